/// The API's OpenAPI document, served at `/openapi.yaml`. The checked-in `docs/openapi.yaml` is
/// the same text (a test compares them, and the document's paths with the router's routes).
public enum OpenAPIDocument {
    public static let text = #"""
openapi: 3.1.0
info:
  title: Berth API
  version: "1"
  description: |
    JSON over the daemon's Unix socket (default /var/lib/berth/berth.sock), or TCP with TLS when
    configured. Every request but /v1/health and /openapi.yaml carries `Authorization: Bearer TOKEN`:
    the operator's token (written to <state-dir>/operator.token) or a tenant's. A tenant sees only
    its own jobs: another tenant's job answers 404 exactly as a missing one. Tenant tokens on operator
    endpoints answer 403. Each tenant's request rate is limited: 429 with Retry-After.
    Every error is an ErrorBody naming the field at fault where there is one.
servers:
  - url: http://localhost
security:
  - bearer: []
paths:
  /v1/health:
    get:
      summary: Liveness
      security: []
      responses:
        "200": {description: The daemon answers, content: {application/json: {schema: {type: object, properties: {status: {type: string}}}}}}
  /openapi.yaml:
    get:
      summary: This document
      security: []
      responses:
        "200": {description: The OpenAPI document, content: {application/yaml: {schema: {type: string}}}}
  /v1/jobs:
    get:
      summary: List jobs (a tenant its own; the operator all, or one tenant's)
      parameters:
        - {name: tenant, in: query, required: false, schema: {type: string}, description: operator only}
      responses:
        "200": {description: Jobs, content: {application/json: {schema: {type: array, items: {$ref: "#/components/schemas/Job"}}}}}
        "401": {$ref: "#/components/responses/Error"}
    post:
      summary: Submit a job spec (YAML or JSON)
      parameters:
        - {name: dry_run, in: query, required: false, schema: {type: boolean}, description: validate and say whether it would be admitted now; nothing is created}
        - {name: tenant, in: query, required: false, schema: {type: string}, description: the operator submits for this tenant (a tenant naming another gets 403)}
        - {name: Idempotency-Key, in: header, required: false, schema: {type: string, maxLength: 128}, description: a retried submission with the same key returns the same job}
      requestBody:
        required: true
        content:
          application/yaml: {schema: {$ref: "#/components/schemas/JobSpecDocument"}}
          application/json: {schema: {$ref: "#/components/schemas/JobSpecDocument"}}
      responses:
        "201": {description: Created, content: {application/json: {schema: {$ref: "#/components/schemas/SubmitResponse"}}}}
        "200": {description: A replay of an idempotency key, or a dry run, content: {application/json: {schema: {$ref: "#/components/schemas/SubmitResponse"}}}}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
        "429": {$ref: "#/components/responses/Error"}
  /v1/jobs/{job}:
    parameters:
      - {name: job, in: path, required: true, schema: {type: string}, description: a job id (j + 16 hex digits) or the job's name in the caller's tenant}
      - {name: tenant, in: query, required: false, schema: {type: string}, description: operator, with a job name}
    get:
      summary: A job with its runs and recent events
      responses:
        "200": {description: The job, content: {application/json: {schema: {$ref: "#/components/schemas/JobStatus"}}}}
        "404": {$ref: "#/components/responses/Error"}
    delete:
      summary: Stop the job, then remove it
      responses:
        "202": {description: Removal under way, content: {application/json: {schema: {$ref: "#/components/schemas/Job"}}}}
        "404": {$ref: "#/components/responses/Error"}
  /v1/jobs/{job}/stop:
    parameters:
      - {name: job, in: path, required: true, schema: {type: string}}
    post:
      summary: Set the job's desired state to stopped
      responses:
        "200": {description: The job, content: {application/json: {schema: {$ref: "#/components/schemas/Job"}}}}
        "404": {$ref: "#/components/responses/Error"}
  /v1/jobs/{job}/logs:
    parameters:
      - {name: job, in: path, required: true, schema: {type: string}}
      - {name: stream, in: query, required: false, schema: {type: string, enum: [stdout, stderr]}}
      - {name: tail, in: query, required: false, schema: {type: integer, minimum: 0}}
      - {name: follow, in: query, required: false, schema: {type: boolean}, description: keep streaming across rotation until the run ends}
    get:
      summary: The latest run's output
      responses:
        "200": {description: Log text, streamed while following, content: {text/plain: {schema: {type: string}}}}
        "404": {$ref: "#/components/responses/Error"}
  /v1/jobs/{job}/events:
    parameters:
      - {name: job, in: path, required: true, schema: {type: string}}
      - {name: after, in: query, required: false, schema: {type: integer}, description: only events with a later revision}
      - {name: wait, in: query, required: false, schema: {type: integer, maximum: 60}, description: seconds to wait for one (long poll)}
    get:
      summary: The job's events, in commit order
      responses:
        "200": {description: Events, content: {application/json: {schema: {type: array, items: {$ref: "#/components/schemas/Event"}}}}}
        "404": {$ref: "#/components/responses/Error"}
  /v1/tenants:
    get:
      summary: List tenants (the operator all; a tenant only itself)
      responses:
        "200": {description: Tenants, content: {application/json: {schema: {type: array, items: {$ref: "#/components/schemas/Tenant"}}}}}
    post:
      summary: Create a tenant and its first token (operator)
      requestBody:
        required: true
        content: {application/json: {schema: {type: object, required: [name], additionalProperties: false, properties: {name: {type: string, pattern: "^[a-z][a-z0-9-]{0,31}$"}}}}}
      responses:
        "201": {description: The tenant and its token (shown once), content: {application/json: {schema: {$ref: "#/components/schemas/TokenResponse"}}}}
        "403": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/tenants/{name}:
    parameters:
      - {name: name, in: path, required: true, schema: {type: string}}
    delete:
      summary: Remove a tenant (operator); its jobs stop, its uid, cgroup and checkpoints are released after the grace period
      responses:
        "202": {description: Removal under way, content: {application/json: {schema: {$ref: "#/components/schemas/Tenant"}}}}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /v1/tenants/{name}/tokens:
    parameters:
      - {name: name, in: path, required: true, schema: {type: string}}
    post:
      summary: Make another token for a tenant (operator)
      responses:
        "201": {description: The token (shown once), content: {application/json: {schema: {$ref: "#/components/schemas/TokenResponse"}}}}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /v1/tenants/{name}/quota:
    parameters:
      - {name: name, in: path, required: true, schema: {type: string}}
    put:
      summary: Set a tenant's quota (operator); a missing key keeps its limit, "none" removes it
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/QuotaRequest"}}}
      responses:
        "200": {description: The tenant, content: {application/json: {schema: {$ref: "#/components/schemas/Tenant"}}}}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "422": {$ref: "#/components/responses/Error"}
  /v1/quota:
    get:
      summary: Quotas beside what admitted jobs use (a tenant its own; the operator all)
      parameters:
        - {name: tenant, in: query, required: false, schema: {type: string}}
      responses:
        "200": {description: Usage, content: {application/json: {schema: {type: array, items: {$ref: "#/components/schemas/QuotaUsage"}}}}}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  responses:
    Error:
      description: What went wrong and the field at fault
      content: {application/json: {schema: {$ref: "#/components/schemas/ErrorBody"}}}
  schemas:
    ErrorBody:
      type: object
      required: [error, message]
      properties: {error: {type: string}, message: {type: string}, field: {type: string}}
    JobSpecDocument:
      type: object
      description: A job spec; see examples/jobs. Unknown fields are refused.
      required: [name, command]
      properties:
        name: {type: string, pattern: "^[a-z0-9][a-z0-9._-]{0,62}$"}
        kind: {type: string, enum: [service, batch]}
        command: {type: array, items: {type: string}, minItems: 1}
        args: {type: array, items: {type: string}}
        env: {type: object, additionalProperties: {type: string}}
        workdir: {type: string}
        resources: {type: object}
        deadline: {type: string}
        network: {type: string, enum: [none, shaped, host]}
        restart: {type: object}
        checkpoint: {type: object}
        labels: {type: object, additionalProperties: {type: string}}
    Job:
      type: object
      required: [id, tenantID, spec, desired, phase, restarts, version, createdAt, updatedAt]
      properties:
        id: {type: string}
        tenantID: {type: string}
        spec: {type: object}
        desired: {type: string, enum: [running, stopped, removed]}
        phase: {type: string, enum: [pending, starting, running, backoff, stopping, stopped, succeeded, failed]}
        reason: {type: string}
        restarts: {type: integer}
        nextAttemptAt: {type: integer}
        currentRun: {type: string}
        lastExit: {type: string}
        lastExitCode: {type: integer}
        version: {type: integer}
        createdAt: {type: integer}
        updatedAt: {type: integer}
    Run:
      type: object
      required: [id, jobID, tenantID, node, state, startedAt]
      properties:
        id: {type: string}
        jobID: {type: string}
        tenantID: {type: string}
        node: {type: string}
        state: {type: string, enum: [starting, running, ended]}
        handle: {type: string}
        pid: {type: integer}
        startedAt: {type: integer}
        endedAt: {type: integer}
        exit: {type: string}
        exitCode: {type: integer}
        message: {type: string}
    Event:
      type: object
      required: [revision, at, tenantID, kind, message]
      properties:
        revision: {type: integer}
        at: {type: integer}
        tenantID: {type: string}
        jobID: {type: string}
        runID: {type: string}
        kind: {type: string}
        message: {type: string}
    JobStatus:
      type: object
      required: [job, tenant, runs, events]
      properties:
        job: {$ref: "#/components/schemas/Job"}
        tenant: {type: string}
        runs: {type: array, items: {$ref: "#/components/schemas/Run"}}
        events: {type: array, items: {$ref: "#/components/schemas/Event"}}
    SubmitResponse:
      type: object
      required: [job, created, admissible]
      properties:
        job: {$ref: "#/components/schemas/Job"}
        created: {type: boolean}
        admissible: {type: boolean}
        reason: {type: string}
    Quota:
      type: object
      properties:
        cpuMicrocores: {type: integer}
        memoryBytes: {type: integer}
        ioBytesPerSecond: {type: integer}
        networkBitsPerSecond: {type: integer}
        pids: {type: integer}
        jobs: {type: integer}
    QuotaRequest:
      type: object
      additionalProperties: false
      properties:
        cpu: {type: string}
        memory: {type: string}
        io: {type: string}
        network: {type: string}
        pids: {type: string}
        jobs: {type: string}
    Tenant:
      type: object
      required: [id, name, uid, quota, state, createdAt]
      properties:
        id: {type: string}
        name: {type: string}
        uid: {type: integer}
        quota: {$ref: "#/components/schemas/Quota"}
        state: {type: string, enum: [active, removing]}
        createdAt: {type: integer}
        releaseAt: {type: integer}
    TokenResponse:
      type: object
      required: [tenant, token]
      properties:
        tenant: {$ref: "#/components/schemas/Tenant"}
        token: {type: string}
    QuotaUsage:
      type: object
      properties:
        tenant: {type: string}
        quota: {$ref: "#/components/schemas/Quota"}
        usedCpuMicrocores: {type: integer}
        usedMemoryBytes: {type: integer}
        usedIOBytesPerSecond: {type: integer}
        usedNetworkBitsPerSecond: {type: integer}
        usedPids: {type: integer}
        usedJobs: {type: integer}
        pendingJobs: {type: integer}

"""#
}
