import Foundation
import RMMProtocol

/// One typed method per operator route: the path, its query and its answer's type in one place.
extension GuruAPIClient {
    // MARK: Server and fleet

    /// `GET /api/v1/health` (no token needed).
    public func health() async throws -> OKView { try await get("/api/v1/health") }

    /// `GET /api/v1/fleet`.
    public func fleet() async throws -> FleetSummaryView { try await get("/api/v1/fleet") }

    /// `GET /api/v1/config`.
    public func config() async throws -> AgentConfig { try await get("/api/v1/config") }

    /// `PUT /api/v1/config`: the saved config, with the version the server gave it.
    public func putConfig(_ config: AgentConfig) async throws -> AgentConfig { try await put("/api/v1/config", body: config) }

    // MARK: Agents

    /// `GET /api/v1/agents`: every agent.
    public func agents() async throws -> [AgentView] { try await get("/api/v1/agents") }

    /// `GET /api/v1/agents/{agent}` (id or name).
    public func agent(_ agent: String) async throws -> AgentView { try await get("/api/v1/agents/\(Self.pathSegment(agent))") }

    /// `POST /api/v1/agents/{agent}/rename`.
    public func renameAgent(_ agent: String, to name: String) async throws -> AgentView {
        try await post("/api/v1/agents/\(Self.pathSegment(agent))/rename", body: RenameRequest(name: name))
    }

    /// `POST /api/v1/agents/{agent}/evict`.
    public func evictAgent(_ agent: String, reason: String? = nil) async throws -> OKView {
        try await post("/api/v1/agents/\(Self.pathSegment(agent))/evict", body: ReasonRequest(reason: reason))
    }

    /// `POST /api/v1/agents/{agent}/revoke`.
    public func revokeAgent(_ agent: String, reason: String? = nil) async throws -> OKView {
        try await post("/api/v1/agents/\(Self.pathSegment(agent))/revoke", body: ReasonRequest(reason: reason))
    }

    // MARK: Link health

    /// `POST /api/v1/agents/{agent}/diagnose`: runs a diagnosis and answers its result.
    public func diagnose(_ agent: String) async throws -> LinkDiagnosis {
        try await post("/api/v1/agents/\(Self.pathSegment(agent))/diagnose", body: ReasonRequest(reason: nil))
    }

    /// `GET /api/v1/agents/{agent}/link`: the latest diagnosis, nil when there is none (404).
    public func link(_ agent: String) async throws -> LinkDiagnosis? {
        do {
            return try await get("/api/v1/agents/\(Self.pathSegment(agent))/link")
        } catch let error as GuruAPIError where error.status == 404 {
            return nil
        }
    }

    /// `GET /api/v1/agents/{agent}/verdicts`: the verdict history, newest first.
    /// `evidence` nil leaves the server's default (with evidence).
    public func verdicts(_ agent: String, limit: Int? = nil, adverseOnly: Bool = false, evidence: Bool? = nil) async throws -> [VerdictView] {
        var query: [String] = []
        if adverseOnly { query.append("adverse=true") }
        if let evidence { query.append("evidence=\(evidence)") }
        if let limit { query.append("limit=\(limit)") }
        return try await get("/api/v1/agents/\(Self.pathSegment(agent))/verdicts" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
    }

    /// `GET /api/v1/link/addresses`: failed attempts no agent has claimed.
    public func linkAddresses() async throws -> [AddressEvidenceView] { try await get("/api/v1/link/addresses") }

    // MARK: Commands and batches

    /// `POST /api/v1/commands`.
    public func run(_ request: RunRequest) async throws -> RunResponse { try await post("/api/v1/commands", body: request) }

    /// `GET /api/v1/commands`: recent commands, newest first, of one agent (id or name) or all.
    public func commands(agent: String? = nil, limit: Int? = nil) async throws -> [CommandView] {
        var query: [String] = []
        if let limit { query.append("limit=\(limit)") }
        if let agent { query.append("agent=\(Self.pathSegment(agent))") }
        return try await get("/api/v1/commands" + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
    }

    /// `GET /api/v1/commands/{id}`: one command with its history and output.
    public func command(_ id: String) async throws -> CommandView { try await get("/api/v1/commands/\(Self.pathSegment(id))") }

    /// `POST /api/v1/commands/{id}/cancel`.
    public func cancelCommand(_ id: String, reason: String? = nil) async throws -> CommandView {
        try await post("/api/v1/commands/\(Self.pathSegment(id))/cancel", body: ReasonRequest(reason: reason))
    }

    /// `GET /api/v1/batches/{id}`: counts by state, after waiting up to `wait` seconds for the batch to finish.
    public func batchSummary(_ id: String, wait: Int = 0, timeout: Double = 30) async throws -> BatchSummaryView {
        try await get("/api/v1/batches/\(Self.pathSegment(id))" + (wait > 0 ? "?wait=\(wait)" : ""), timeout: timeout)
    }

    /// `GET /api/v1/batches/{id}/changes`: what changed after `after`, waiting up to `wait` seconds for a change.
    public func batchChanges(_ id: String, after: Int, wait: Int = 0, timeout: Double = 30) async throws -> BatchChangesView {
        try await get("/api/v1/batches/\(Self.pathSegment(id))/changes?after=\(after)&wait=\(wait)", timeout: timeout)
    }

    /// Follows a batch over `/events` and `/results`.
    public func batch(_ id: String) -> BatchFollower { BatchFollower(client: self, batchId: id) }

    // MARK: Tokens and audit

    /// `POST /api/v1/enrollment-tokens`: the new token, with its secret.
    public func createEnrollmentToken(expiresSeconds: Double?, uses: Int?) async throws -> EnrollmentTokenView {
        try await post("/api/v1/enrollment-tokens", body: EnrollmentTokenRequest(expiresSeconds: expiresSeconds, uses: uses))
    }

    /// `GET /api/v1/enrollment-tokens`.
    public func enrollmentTokens() async throws -> [EnrollmentTokenView] { try await get("/api/v1/enrollment-tokens") }

    /// `DELETE /api/v1/enrollment-tokens/{id}`.
    public func revokeEnrollmentToken(_ id: String) async throws -> OKView {
        try await delete("/api/v1/enrollment-tokens/\(Self.pathSegment(id))")
    }

    /// `POST /api/v1/tokens`: the new API token, with its secret.
    public func createAPIToken(name: String, role: String) async throws -> APITokenView {
        try await post("/api/v1/tokens", body: APITokenRequest(name: name, role: role))
    }

    /// `GET /api/v1/tokens`.
    public func apiTokens() async throws -> [APITokenView] { try await get("/api/v1/tokens") }

    /// `DELETE /api/v1/tokens/{id}`.
    public func revokeAPIToken(_ id: String) async throws -> OKView { try await delete("/api/v1/tokens/\(Self.pathSegment(id))") }

    /// `GET /api/v1/audit`: operator actions, newest first.
    public func audit(limit: Int? = nil) async throws -> [AuditEntryView] {
        try await get("/api/v1/audit" + (limit.map { "?limit=\($0)" } ?? ""))
    }

    /// `text` as one path segment or query value: everything but unreserved characters percent-encoded.
    public static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

extension GuruAPIClient {
    /// Waits until every command of the batch has ended, a `GET /batches/{id}?wait=20` at a time
    /// (the server answers as soon as it is done); fails after `timeout` seconds.
    public func awaitBatch(_ id: String, timeout: Double) async throws -> BatchSummaryView {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let summary = try await batchSummary(id, wait: 20, timeout: 40)
            if summary.done { return summary }
            if Date() > deadline {
                throw GuruAPIError(status: 0, message: "batch \(id) not done after \(Int(timeout)) s: \(summary.terminal)/\(summary.total)")
            }
        }
    }
}
