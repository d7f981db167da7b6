"""The team and playbooks the approval tests share: roles, a two-key change, a step gate."""

from __future__ import annotations

__all__ = ["CONFIG", "GATED", "PLAYBOOKS", "SELF_OK", "TWO_KEY"]

CONFIG = """
roles:
  sre-lead: {shell: [bob, carol]}
  sre: {shell: [alice, bob, carol, dave]}
channels:
  incidents: {shell: incidents}
engine: {approval_poll_every: 50ms}
"""

TWO_KEY = """
name: two-key
title: Two-key change
risk: high
allowed: [sre]
channels: [incidents]
approval: {required: true, approvers: [sre-lead], min_approvals: 2, expires_after: 10m}
steps:
  - id: go
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/go"}
"""

SELF_OK = """
name: self-ok
approval: {required: true, approvers: [sre-lead], allow_self_approval: true}
steps:
  - id: go
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/go"}
"""

GATED = """
name: canary-rollback
params:
  immediate: {type: boolean, default: true}
steps:
  - id: reduce
    name: Reduce canary to 5%
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/reduce"}
  - id: rollback
    name: Roll back
    approval: {required: "{{ params.immediate }}", approvers: [sre-lead], expires_after: 10m}
    action: http
    with: {method: POST, url: "{{ env.API_URL }}/rollback"}
"""

PLAYBOOKS = {"two-key": TWO_KEY, "self-ok": SELF_OK, "gated": GATED}
