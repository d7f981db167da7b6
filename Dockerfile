# A slim, non-root image that runs `chatops run`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY bot ./bot
COPY handlers ./handlers
COPY playbooks ./playbooks
COPY scheduler ./scheduler
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 chatops
COPY --from=build /install /usr/local
USER chatops
WORKDIR /home/chatops
ENV PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite+aiosqlite:////home/chatops/chatops.db \
    CHATOPS_PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/healthz').status == 200 else 1)"
ENTRYPOINT ["chatops"]
CMD ["run"]
