import Foundation
import Hummingbird
import NIOCore
import RMMAPI
import RMMProtocol
import RMMStore

/// The operator REST API under `/api/v1`. Routes only translate HTTP to `ServerCore` calls.
enum OperatorAPI {
    static func router(core: ServerCore) -> Router<OperatorContext> {
        let router = Router(context: OperatorContext.self)
        router.add(middleware: ErrorMappingMiddleware())
        router.add(middleware: NULRefusingMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware(table: .operatorAPI))
        router.get("/api/v1/health") { _, _ in OKView(ok: true, message: "gururmm server is running") }
        let api = router.group("/api/v1").add(middleware: TokenAuthMiddleware(core: core, limiter: AddressLimiter(settings: core.settings)))
        addAgentRoutes(api, core: core)
        addCommandRoutes(api, core: core)
        addAdminRoutes(api, core: core)
        addTokenAndAuditRoutes(api, core: core)
        return router
    }

    private static func addAgentRoutes(_ api: RouterGroup<OperatorContext>, core: ServerCore) {
        api.get("/fleet") { _, _ -> FleetSummaryView in try await core.fleetSummary(now: Date()) }
        api.get("/agents") { _, _ -> Response in try await AgentViews.list(core) }
        api.get("/agents/:agent") { _, context -> AgentView in
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            return try await core.view(of: agent, now: Date())
        }
        api.get("/agents/:agent/link") { _, context -> LinkDiagnosis in
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            guard let diagnosis = try await core.latestDiagnosis(agentId: agent.id) else {
                throw RequestError(404, "no link diagnosis for \(agent.name) yet; run `gururmm diagnose \(agent.name)`")
            }
            return diagnosis
        }
        api.get("/agents/:agent/verdicts") { request, context -> JSONBody<[VerdictView]> in
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            let limit = try request.queryInteger("limit", in: 1...VerdictRecord.keptPerAgent, fallback: VerdictRecord.keptPerAgent)
            let withEvidence = try request.queryBool("evidence", fallback: true)
            let adverseOnly = try request.queryBool("adverse", fallback: false)
            // The adverse filter applies before the limit: `adverse=true&limit=2` is the newest two adverse entries.
            let history = try await core.store.verdicts(agentId: agent.id, limit: adverseOnly ? VerdictRecord.keptPerAgent : limit)
            return JSONBody(history.filter { !adverseOnly || $0.verdict.isAdverse }.prefix(limit).map { VerdictView($0, withEvidence: withEvidence) })
        }
        api.get("/link/addresses") { _, _ -> JSONBody<[AddressEvidenceView]> in
            JSONBody(core.unattributedEvidence())
        }
        api.post("/agents/:agent/diagnose") { request, context -> LinkDiagnosis in
            try context.require(.operator)
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            // The body is optional, but one that is not a `ReasonRequest` is refused, never ignored.
            _ = try await optionalReason(request, context)
            try await core.audit(context, "agents.diagnose", targets: [agent.id], detail: "link diagnosis of \(agent.name)")
            let session = await core.registry.session(for: agent.id)
            return await LinkDiagnoser(session: session).run(trigger: "operator \(context.operatorName ?? "")")
        }
        api.post("/agents/:agent/evict") { request, context -> OKView in
            try context.require(.operator)
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            let reason = try await optionalReason(request, context) ?? "evicted by \(context.operatorName ?? "operator")"
            guard let session = await core.registry.existingSession(for: agent.id), await session.evict(reason: reason) else {
                throw RequestError(409, "agent \(agent.name) (\(agent.id)) is not connected; nothing to evict")
            }
            try await core.audit(context, "agents.evict", targets: [agent.id], detail: reason)
            return OKView(ok: true, message: "evicted \(agent.name) (\(agent.id)); it will reconnect and resume")
        }
        api.post("/agents/:agent/rename") { request, context -> AgentView in
            try context.require(.operator)
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            let name = try await request.decode(as: RenameRequest.self, context: context).name
            try RequestError.refuseNUL(name, in: "name")
            if let problem = AgentName.problem(name) { throw RequestError(400, problem) }
            let renamed: AgentRecord
            do {
                renamed = try await core.store.renameAgent(
                    id: agent.id, to: name,
                    audit: ServerCore.auditEntry(context, "agents.rename", targets: [agent.id], detail: "'\(agent.name)' → '\(name)'")
                )
            } catch StoreError.conflict(let why) {
                throw RequestError(409, why)
            } catch StoreError.invalid(let why) {
                throw RequestError(400, why)
            } catch StoreError.notFound {
                throw RequestError(404, "no agent with id '\(agent.id)'")
            }
            return try await core.view(of: renamed, now: Date())
        }
    }

    private static func addCommandRoutes(_ api: RouterGroup<OperatorContext>, core: ServerCore) {
        api.post("/commands") { request, context -> EditedResponse<RunResponse> in
            try context.require(.operator)
            let body = try await request.decode(as: RunRequest.self, context: context)
            let what = body.command.map { "shell: " + String($0.prefix(200)) } ?? "script of \(body.script?.utf8.count ?? 0) bytes"
            // The audit entry is stored with the commands, in one commit.
            let (batchId, records, names) = try await core.commands.run(body, by: context.operatorName ?? "unknown") { batchId, records in
                ServerCore.auditEntry(context, "commands.run", targets: records.map(\.agentId), detail: "batch \(batchId): \(what)")
            }
            let targets = records.map { RunResponse.Target(commandId: $0.id, agentId: $0.agentId, agent: names[$0.agentId] ?? $0.agentId) }
            return EditedResponse(status: .created, response: RunResponse(batchId: batchId, commands: targets))
        }
        api.get("/commands") { request, context -> [CommandView] in
            let agentFilter = request.uri.queryParameters.get("agent")
            let limit = try request.queryInteger("limit", in: 1...10_000, fallback: 100)
            let agentId = try await agentFilter.asyncMap { try await core.requireAgent($0).id }
            let commands = try await core.store.commands(agentId: agentId, limit: limit)
            let names = try await core.store.agentNames(ids: commands.map(\.agentId))
            return commands.map { CommandView($0, agentName: names[$0.agentId], textLimit: 200) }
        }
        api.get("/commands/:id") { _, context -> CommandView in
            let id = try context.parameters.require("id")
            guard let record = try await core.store.command(id: id) else { throw RequestError(404, "command \(id) not found") }
            var view = CommandView(record, agentName: try await core.store.agent(id: record.agentId)?.name)
            view.stdout = String(decoding: try await core.store.output(commandId: id, stream: .stdout), as: UTF8.self)
            view.stderr = String(decoding: try await core.store.output(commandId: id, stream: .stderr), as: UTF8.self)
            view.events = try await core.store.events(commandId: id).map { CommandEventView(state: $0.state, at: $0.at, reason: $0.reason) }
            return view
        }
        api.post("/commands/:id/cancel") { request, context -> CommandView in
            try context.require(.operator)
            let id = try context.parameters.require("id")
            let reason = try await optionalReason(request, context)
            // Stored with the state change when the command was still queued.
            let record = try await core.commands.cancel(
                commandId: id, reason: reason ?? "cancelled by \(context.operatorName ?? "operator")",
                audit: ServerCore.auditEntry(context, "commands.cancel", targets: [id], detail: reason ?? "")
            )
            return CommandView(record, agentName: nil)
        }
        api.get("/batches/:id") { request, context -> BatchSummaryView in
            let id = try context.parameters.require("id")
            let wait = try request.queryReal("wait", in: 0...60, fallback: 0)
            return try await batchSummary(core, batchId: id, wait: wait)
        }
        api.get("/batches/:id/changes") { request, context -> Response in
            let id = try context.parameters.require("id")
            let after = try request.queryInteger("after", in: 0...WireRange.maxCount, fallback: 0)
            let wait = try request.queryReal("wait", in: 0...60, fallback: 0)
            return try await BatchStreams.changesObject(core, batchId: id, after: after, wait: wait)
        }
        api.get("/batches/:id/events") { request, context -> Response in
            let id = try context.parameters.require("id")
            let after = try request.queryInteger("after", in: 0...WireRange.maxCount, fallback: 0)
            let wait = try request.queryReal("wait", in: 0...60, fallback: 0)
            let output = try request.queryBool("output", fallback: true)
            let terminalOnly = try request.queryBool("terminal", fallback: false)
            return try await BatchStreams.events(core, batchId: id, after: after, wait: wait, output: output, terminalOnly: terminalOnly)
        }
        api.get("/batches/:id/results") { request, context -> Response in
            let id = try context.parameters.require("id")
            let output = try request.queryBool("output", fallback: true)
            return try await BatchStreams.results(core, batchId: id, output: output)
        }
    }

    private static func addAdminRoutes(_ api: RouterGroup<OperatorContext>, core: ServerCore) {
        api.post("/enrollment-tokens") { request, context -> EditedResponse<EnrollmentTokenView> in
            try context.require(.admin)
            let body = try await request.decodeIfPresent(as: EnrollmentTokenRequest.self, context: context)
                ?? EnrollmentTokenRequest(expiresSeconds: nil, uses: nil)
            let uses = body.uses ?? 1
            guard (1...100_000).contains(uses) else { throw RequestError(400, "uses must be 1...100000") }
            let expires = body.expiresSeconds ?? 86_400
            guard expires > 0, expires <= 365 * 86_400 else { throw RequestError(400, "expires_seconds must be between 0 and 31536000") }
            // The token carries the server's signing key and TLS pin, so the agent trusts the
            // server with no extra step.
            let secret = "gre_" + CommandService.newId(prefix: "") + CommandService.newId(prefix: "")
            let now = Date()
            let record = try await core.store.createEnrollmentToken(
                hash: CommandService.sha256Hex(secret), expiresAt: now.addingTimeInterval(expires), uses: uses, now: now
            ) { record in
                ServerCore.auditEntry(context, "enrollment-tokens.create", targets: [record.id], detail: "uses \(uses), expires in \(Int(expires)) s")
            }
            let view = EnrollmentTokenView(record, secret: EnrollmentToken.compose(secret: secret, serverKey: core.registry.signer.publicKey, tlsTrust: core.enrollTrust))
            return EditedResponse(status: .created, response: view)
        }
        api.get("/enrollment-tokens") { _, context -> [EnrollmentTokenView] in
            try context.require(.operator)
            return try await core.store.enrollmentTokens().map { EnrollmentTokenView($0, secret: nil) }
        }
        addRevokeRoute(api, "/enrollment-tokens", core: core, what: "enrollment token", action: "enrollment-tokens.revoke") { id, audit in
            try await core.store.revokeEnrollmentToken(id: id, now: Date(), audit: audit)
            return "enrollment token \(id) revoked; enrollments with it are refused from now on"
        }
        api.get("/config") { _, _ -> JSONBody<AgentConfig> in JSONBody(await core.registry.currentConfig) }
        api.put("/config") { request, context -> JSONBody<AgentConfig> in
            try context.require(.admin)
            var config = try await request.decode(as: AgentConfig.self, context: context)
            // The version sent is replaced, but it must still be one a config can have.
            guard (1...WireRange.maxCount).contains(config.version) else {
                throw RequestError(400, "version must be 1...\(WireRange.maxCount) (it is then replaced by the next version)")
            }
            let current = await core.registry.currentConfig
            // After restoring an older database agents refuse its configs as older than the one
            // they applied: `min_version` moves the saved version past theirs.
            let minimumVersion = try request.queryInteger("min_version", in: 1...WireRange.maxCount, fallback: 1)
            config.version = max(current.version, minimumVersion - 1)
            guard config.version < WireRange.maxCount else {
                throw RequestError(409, "the config version is at its maximum (\(WireRange.maxCount))")
            }
            let problems = config.problems()
            guard problems.isEmpty else { throw RequestError(400, "config rejected: " + problems.joined(separator: "; ")) }
            let saved = try await core.store.saveConfig(config) { saved in
                ServerCore.auditEntry(context, "config.update", targets: [], detail: "config version \(saved.version)")
            }
            await core.registry.push(config: saved)
            return JSONBody(saved)
        }
    }

    private static func addTokenAndAuditRoutes(_ api: RouterGroup<OperatorContext>, core: ServerCore) {
        api.post("/tokens") { request, context -> EditedResponse<APITokenView> in
            try context.require(.admin)
            let body = try await request.decode(as: APITokenRequest.self, context: context)
            let name = body.name.trimmingCharacters(in: .whitespaces)
            try RequestError.refuseNUL(name, in: "name")
            // Counted in Unicode scalars, as openapi.yaml's maxLength counts.
            guard !name.isEmpty, name.unicodeScalars.count <= 64 else { throw RequestError(400, "name must be 1...64 characters") }
            guard let role = OperatorRole(rawValue: body.role) else {
                throw RequestError(400, "role must be one of \(OperatorRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let secret = "grt_" + CommandService.newId(prefix: "") + CommandService.newId(prefix: "") + CommandService.newId(prefix: "")
            let record = try await core.store.createAPIToken(name: name, role: role.rawValue, hash: CommandService.sha256Hex(secret), now: Date()) { record in
                ServerCore.auditEntry(context, "tokens.create", targets: [record.id], detail: "\(name) as \(role.rawValue)")
            }
            return EditedResponse(status: .created, response: APITokenView(record, secret: secret))
        }
        api.get("/tokens") { _, context -> [APITokenView] in
            try context.require(.admin)
            return try await core.store.apiTokens().map { APITokenView($0, secret: nil) }
        }
        addRevokeRoute(api, "/tokens", core: core, what: "API token", action: "tokens.revoke") { id, audit in
            try await core.store.revokeAPIToken(id: id, now: Date(), audit: audit)
            core.tokens.invalidate()
            return "token \(id) revoked; requests with it are refused from now on"
        }
        api.post("/agents/:agent/revoke") { request, context -> OKView in
            try context.require(.admin)
            let agent = try await core.requireAgent(try context.parameters.require("agent"))
            let reason = try await optionalReason(request, context)
            try await core.store.revokeAgent(
                id: agent.id, now: Date(), audit: ServerCore.auditEntry(context, "agents.revoke", targets: [agent.id], detail: reason ?? "")
            )
            await core.registry.revoke(agentId: agent.id, reason: "agent revoked by an operator")
            return OKView(ok: true, message: "agent \(agent.name) (\(agent.id)) revoked: disconnected and refused from now on")
        }
        api.get("/audit") { request, _ -> JSONBody<[AuditEntry]> in
            let limit = try request.queryInteger("limit", in: 1...10_000, fallback: 200)
            return JSONBody(try await core.store.auditLog(limit: limit))
        }
    }

    /// `DELETE <path>/{id}` (admin): `revoke` revokes by id, storing the audit entry (`action`) it
    /// is given in the same transaction, and says what that means; an id the store does not know is 404.
    private static func addRevokeRoute(
        _ api: RouterGroup<OperatorContext>, _ path: String, core: ServerCore, what: String, action: String,
        revoke: @escaping @Sendable (String, AuditEntry) async throws -> String
    ) {
        api.delete("\(path)/:id") { _, context -> OKView in
            try context.require(.admin)
            let id = try context.parameters.require("id")
            let message: String
            do {
                message = try await revoke(id, ServerCore.auditEntry(context, action, targets: [id], detail: ""))
            } catch StoreError.notFound {
                throw RequestError(404, "no \(what) with id \(id)")
            }
            return OKView(ok: true, message: message)
        }
    }

    /// The optional `{"reason": …}` body of evict, cancel and revoke.
    private static func optionalReason(_ request: Request, _ context: OperatorContext) async throws -> String? {
        let reason = try await request.decodeIfPresent(as: ReasonRequest.self, context: context)?.reason
        try RequestError.refuseNUL(reason, in: "reason")
        // A cancel's reason travels to the agent and back in its result: well inside the wire's
        // bound for text, with room for what the agent adds.
        if let reason, reason.utf8.count > ReasonRequest.maxBytes {
            throw RequestError(400, "reason must be at most \(ReasonRequest.maxBytes) bytes")
        }
        return reason
    }

    /// Long-poll: answers at once if something changed after `after`, else waits up to `wait` seconds.
    /// The batch's counts; with `wait`, holds the request until the batch is done or `wait` passed.
    private static func batchSummary(_ core: ServerCore, batchId: String, wait: Double) async throws -> BatchSummaryView {
        let deadline = Date().addingTimeInterval(wait)
        var seen = core.feed.current
        var counts = try await core.store.batchStateCounts(batchId: batchId)
        if counts.isEmpty { throw RequestError(404, "batch \(batchId) not found") }
        let total = counts.values.reduce(0, +)
        var pending = counts.filter { !$0.key.isTerminal }.values.reduce(0, +)
        // While a big batch is waited for, each wake-up counts only its unfinished commands (an
        // index of just those); the full per-state count, which reads the whole batch, is taken
        // once more for the answer. A small batch is counted in full each time: as cheap, and one
        // read instead of two on an operator's round trip.
        let big = total >= 1000
        while pending > 0 && deadline.timeIntervalSinceNow > 0 {
            await core.feed.wait(after: seen, timeout: .milliseconds(Int(deadline.timeIntervalSinceNow * 1000)))
            // A big fan-out bumps the feed once per result: recount at most every 20 ms, not per bump.
            if big { try? await Task.sleep(for: .milliseconds(20)) }
            seen = core.feed.current
            if big {
                pending = try await core.store.batchPendingCount(batchId: batchId)
                if pending == 0 || deadline.timeIntervalSinceNow <= 0 { counts = try await core.store.batchStateCounts(batchId: batchId) }
            } else {
                counts = try await core.store.batchStateCounts(batchId: batchId)
                pending = counts.filter { !$0.key.isTerminal }.values.reduce(0, +)
            }
        }
        let terminal = counts.filter { $0.key.isTerminal }.values.reduce(0, +)
        return BatchSummaryView(batchId: batchId, total: total, terminal: terminal, done: terminal == total,
                                states: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) }))
    }
}

extension Request {
    /// A JSON body that may be left out: nil when there is none; otherwise it must decode like any
    /// other body (else 400) within the upload limit (else 413). A body that cannot be read is never
    /// ignored: the caller asked for something, and silently doing something else is worse than refusing.
    func decodeIfPresent<T: Decodable>(as type: T.Type, context: OperatorContext) async throws -> T? {
        let buffer = try await body.collect(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else { return nil }
        return try context.requestDecoder.decode(T.self, from: Data(buffer.readableBytesView))
    }
}

extension Request {
    /// A whole-number query parameter in `range` (`fallback` when absent); anything else is 400.
    func queryInteger(_ name: String, in range: ClosedRange<Int>, fallback: Int) throws -> Int {
        do {
            return try QueryNumber.integer(uri.queryParameters.get(name), name: name, in: range, fallback: fallback)
        } catch {
            throw RequestError(400, error.description)
        }
    }

    /// A query parameter that is `true` or `false` (`fallback` when absent); anything else is 400.
    func queryBool(_ name: String, fallback: Bool) throws -> Bool {
        guard let text = uri.queryParameters.get(name) else { return fallback }
        switch text {
        case "true": return true
        case "false": return false
        default: throw RequestError(400, "\(name) must be true or false")
        }
    }

    /// A finite numeric query parameter in `range` (`fallback` when absent); anything else is 400.
    func queryReal(_ name: String, in range: ClosedRange<Double>, fallback: Double) throws -> Double {
        do {
            return try QueryNumber.real(uri.queryParameters.get(name), name: name, in: range, fallback: fallback)
        } catch {
            throw RequestError(400, error.description)
        }
    }
}

extension Optional {
    /// Maps with an async throwing transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

extension AgentView: ResponseEncodable {}
extension FleetSummaryView: ResponseEncodable {}
extension BatchSummaryView: ResponseEncodable {}
extension CommandView: ResponseEncodable {}
extension RunResponse: ResponseEncodable {}
extension BatchChangesView: ResponseEncodable {}
extension EnrollmentTokenView: ResponseEncodable {}
extension OKView: ResponseEncodable {}
extension LinkDiagnosis: ResponseEncodable {}
extension APITokenView: ResponseEncodable {}

/// Sends any Encodable value (from another module) as a JSON response body, unchanged.
struct JSONBody<Value: Encodable & Sendable>: ResponseEncodable {
    let value: Value
    init(_ value: Value) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
