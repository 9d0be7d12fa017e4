import Foundation
import PropertyBased
import RMMAPI
import RMMProtocol
import RMMServer
import RMMStore
import RMMTestSupport
import Testing

/// One operator API route as the fuzzer sees it. A new route is one more entry in `all`: its method, its
/// path (with a placeholder per path parameter), the query parameters it reads, its body, and what a
/// 2xx answer must have done.
struct FuzzRoute: Sendable, CustomStringConvertible {
    /// The request bodies the API takes, each with a plausible valid body that the fuzzer starts from.
    enum Body: Sendable {
        case reason, run, enrollmentToken, config, apiToken, rename

        func valid(_ world: APIFuzzWorld, _ rng: inout Xoshiro) -> FuzzJSON {
            func number(_ range: ClosedRange<Int>) -> FuzzJSON { .number(rng.chance(4) ? rng.numberText() : String(rng.int(range))) }
            switch self {
            case .reason:
                return .object(rng.chance(3) ? [] : [("reason", .string(rng.text()))])
            case .run:
                var pairs: [(String, FuzzJSON)] = []
                if rng.chance(6) {
                    pairs.append(("all", .bool(true)))
                } else {
                    let refs = world.pool(.agent) + world.pool(.victim)
                    let ref = { (rng: inout Xoshiro) -> String in
                        rng.chance(8) ? rng.text() : rng.pick(refs) + (rng.chance(10) ? rng.pick(["\u{0}", "\u{0}x", " "]) : "")
                    }
                    pairs.append(("agents", .array((0..<rng.int(1...3)).map { _ in .string(ref(&rng)) })))
                }
                if rng.chance(3) {
                    pairs.append(("script", .string(rng.chance(2) ? "echo fuzz" : rng.text())))
                    if rng.chance(2) { pairs.append(("interpreter", .string(rng.pick(world.config.allowedInterpreters + ["sh", "/nonexistent"])))) }
                } else {
                    pairs.append(("command", .string(rng.chance(2) ? "true" : rng.text())))
                }
                if rng.chance(2) { pairs.append(("timeout_seconds", number(1...600))) }
                if rng.chance(2) { pairs.append(("expires_seconds", number(1...600))) }
                if rng.chance(4) { pairs.append(("list_commands", .bool(rng.chance(2)))) }
                return .object(pairs)
            case .enrollmentToken:
                var pairs: [(String, FuzzJSON)] = []
                if rng.chance(2) { pairs.append(("expires_seconds", number(1...31_536_000))) }
                if rng.chance(2) { pairs.append(("uses", number(1...100))) }
                return .object(pairs)
            case .config:
                let c = world.config
                var pairs: [(String, FuzzJSON)] = [
                    ("version", .int(c.version)), ("heartbeat_interval", .double(c.heartbeatInterval)),
                    ("heartbeat_deadline", .double(c.heartbeatDeadline)), ("ping_interval", .double(c.pingInterval)),
                    ("max_concurrent_commands", .int(c.maxConcurrentCommands)), ("max_queued_commands", .int(c.maxQueuedCommands)),
                    ("output_cap_bytes", .int(c.outputCapBytes)), ("output_chunk_bytes", .int(c.outputChunkBytes)),
                    ("ack_deadline", .double(c.ackDeadline)), ("max_message_bytes", .int(c.maxMessageBytes)),
                    ("labels", .object(c.labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                    ("allowed_interpreters", .array(c.allowedInterpreters.map { .string($0) })),
                    ("command_environment", .object(c.commandEnvironment.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                ]
                // Change a field or two, mostly within range: a valid body should often be a valid config.
                for _ in 0..<rng.int(0...2) {
                    let at = rng.int(0...pairs.count - 1)
                    switch pairs[at].0 {
                    case "labels", "command_environment": pairs[at].1 = .object((0..<rng.int(0...4)).map { _ in (rng.text(), .string(rng.text())) })
                    case "allowed_interpreters": pairs[at].1 = .array((0..<rng.int(0...4)).map { _ in .string(rng.text()) })
                    case "heartbeat_interval", "ping_interval", "ack_deadline": pairs[at].1 = number(1...60)
                    case "heartbeat_deadline": pairs[at].1 = number(120...7200)
                    case "max_concurrent_commands": pairs[at].1 = number(1...256)
                    case "output_cap_bytes": pairs[at].1 = number(1024...(8 << 20))
                    case "output_chunk_bytes": pairs[at].1 = number(512...(1 << 20))
                    case "max_message_bytes": pairs[at].1 = number(1024...(WireLimits.maxFrameBytes / 2))
                    default: pairs[at].1 = number(0...100_000)
                    }
                }
                return .object(pairs)
            case .rename:
                return .object([("name", .string(rng.chance(2) ? "renamed-\(rng.int(1...1_000_000))" : rng.text()))])
            case .apiToken:
                return .object([("name", .string(rng.chance(3) ? "fuzz" : rng.text())), ("role", .string(rng.pick(["viewer", "operator", "admin", rng.text()])))])
            }
        }
    }

    var method: String
    /// The path; `{agent}`, `{victim}`, `{command}`, `{batch}`, `{token}` and `{enrollmentToken}` mark where
    /// a live value (or junk) goes.
    var template: String
    var query: [String]
    var body: Body?
    var authenticated: Bool
    /// What a 2xx answer must have done; every answer's general duties are checked by `APIFuzzWorld`.
    var check: @Sendable (Exchange, APIFuzzWorld) async throws -> Void

    init(_ method: String, _ template: String, query: [String] = [], body: Body? = nil, authenticated: Bool = true,
         check: @escaping @Sendable (Exchange, APIFuzzWorld) async throws -> Void) {
        self.method = method
        self.template = template
        self.query = query
        self.body = body
        self.authenticated = authenticated
        self.check = check
    }

    var description: String { "\(method) \(template)" }

    /// The route's path with a harmless value for every parameter.
    var plainPath: String { path { _ in "fuzz" } }

    /// The route's path with `value` for each kind of parameter (percent-encoded).
    func path(_ value: (PathKind) -> String) -> String {
        PathKind.allCases.reduce(template) { $0.replacingOccurrences(of: "{\($1.rawValue)}", with: APIFuzzWorld.encode(value($1))) }
    }
}

extension FuzzRoute {
    /// Every route of openapi.yaml.
    static let all: [FuzzRoute] = [
        FuzzRoute("GET", "/api/v1/health", authenticated: false) { exchange, _ in
            try ensure(try exchange.decode(OKView.self).ok, "health is not ok")
        },
        FuzzRoute("GET", "/api/v1/agents") { exchange, world in
            let ids = Set(try exchange.decode([AgentView].self).map(\.id))
            try ensure(ids == Set((world.agents + world.victims).map(\.id)), "the agent list is not the enrolled agents")
        },
        FuzzRoute("GET", "/api/v1/agents/{agent}") { exchange, world in
            let view = try exchange.decode(AgentView.self)
            try ensure(view.id == world.agentId(for: exchange.parameters[0]), "answered with agent \(view.id)")
        },
        FuzzRoute("GET", "/api/v1/agents/{agent}/link") { exchange, world in
            let diagnosis = try exchange.decode(LinkDiagnosis.self)
            try ensure(diagnosis.agentId == world.agentId(for: exchange.parameters[0]), "a diagnosis of agent \(diagnosis.agentId)")
        },
        FuzzRoute("GET", "/api/v1/agents/{agent}/verdicts") { exchange, _ in
            let history = try exchange.decode([VerdictView].self)
            try ensure(history.count <= 100, "more than 100 verdicts")
            if exchange.queryValue("evidence") == "false" { try ensure(history.allSatisfy { $0.evidence == nil }, "evidence=false returned evidence") }
            if exchange.queryValue("adverse") == "true" { try ensure(history.allSatisfy { $0.verdict.isAdverse }, "adverse=true returned \(history.map(\.verdict))") }
        },
        FuzzRoute("GET", "/api/v1/link/addresses") { exchange, _ in
            let addresses = try exchange.decode([AddressEvidenceView].self)
            try ensure(addresses.allSatisfy { !$0.attributed }, "per-address evidence claims an agent")
            try ensure(addresses.allSatisfy { $0.attempts.allSatisfy { $0.fact.connectionId == nil } }, "a claimable connection id is shown")
        },
        FuzzRoute("POST", "/api/v1/agents/{agent}/diagnose", body: .reason) { exchange, world in
            let diagnosis = try exchange.decode(LinkDiagnosis.self)
            try ensure(diagnosis.agentId == world.agentId(for: exchange.parameters[0]), "diagnosed agent \(diagnosis.agentId)")
            try ensure(diagnosis.verdict == .agentOffline, "an agent without a connection diagnosed \(diagnosis.verdict)")
            // Its commands were never written to a connection, whatever the diagnosis noted.
            let commands = try await world.get("/api/v1/commands?agent=\(diagnosis.agentId)", as: [CommandView].self)
            try ensure(!commands.contains { $0.state == .sent }, "a diagnosis made a queued command 'sent'")
        },
        FuzzRoute("POST", "/api/v1/agents/{agent}/evict", body: .reason) { _, _ in
            throw FuzzViolation("evicted an agent that has no connection")
        },
        FuzzRoute("POST", "/api/v1/agents/{victim}/rename", body: .rename) { exchange, world in
            let view = try exchange.decode(AgentView.self)
            let id = try #require(world.agentId(for: exchange.parameters[0]))
            try ensure(view.id == id, "renamed agent \(view.id), not \(id)")
            let asked = try #require(exchange.decodeBody(RenameRequest.self), "renamed from a body that is not a rename request")
            try ensure(view.name == asked.name, "asked for the name '\(asked.name)', got '\(view.name)'")
            try ensure(try await world.get("/api/v1/agents/\(id)", as: AgentView.self).name == asked.name, "the new name is not stored")
            if let at = world.victims.firstIndex(where: { $0.id == id }) { world.victims[at].name = asked.name }
        },
        FuzzRoute("POST", "/api/v1/agents/{victim}/revoke", body: .reason) { exchange, world in
            _ = try exchange.decode(OKView.self)
            let id = try #require(world.agentId(for: exchange.parameters[0]))
            try ensure(try await world.get("/api/v1/agents/\(id)", as: AgentView.self).status == .revoked, "the agent is not revoked")
            world.revoked.insert(id)
        },
        FuzzRoute("POST", "/api/v1/commands", body: .run, check: checkRun),
        FuzzRoute("GET", "/api/v1/commands", query: ["agent", "limit"]) { exchange, world in
            let views = try exchange.decode([CommandView].self)
            try ensure(views.count <= exchange.queryValue("limit").flatMap { Int($0) }.map { min(max($0, 1), 10_000) } ?? 10_000, "more than the limit")
            if let agent = exchange.queryValue("agent") {
                try ensure(views.allSatisfy { $0.agentId == world.agentId(for: agent) }, "commands of another agent listed")
            }
        },
        FuzzRoute("GET", "/api/v1/commands/{command}") { exchange, _ in
            try ensure(try exchange.decode(CommandView.self).id == exchange.parameters[0], "answered with another command")
        },
        FuzzRoute("POST", "/api/v1/commands/{command}/cancel", body: .reason) { exchange, world in
            let id = try exchange.decode(CommandView.self).id
            try ensure(id == exchange.parameters[0], "cancelled another command")
            let now = try await world.get("/api/v1/commands/\(id)", as: CommandView.self)
            try ensure(now.state == .cancelled, "a command of an agent without a connection is \(now.state) after cancel")
            if let reason = exchange.decodeBody(ReasonRequest.self)?.reason {
                try ensure(now.events?.last?.reason == reason, "the reason given is not the one recorded")
            }
        },
        FuzzRoute("GET", "/api/v1/fleet") { exchange, _ in
            let fleet = try exchange.decode(FleetSummaryView.self)
            try ensure(fleet.online + fleet.degraded + fleet.offline + fleet.revoked == fleet.enrolled, "counts do not add up: \(fleet)")
        },
        FuzzRoute("GET", "/api/v1/batches/{batch}", query: ["wait"]) { exchange, _ in
            let summary = try exchange.decode(BatchSummaryView.self)
            try ensure(summary.batchId == exchange.parameters[0] && summary.total == summary.states.values.reduce(0, +), "counts of another batch, or not adding up")
        },
        FuzzRoute("GET", "/api/v1/batches/{batch}/changes", query: ["after", "wait"]) { exchange, _ in
            let changes = try exchange.decode(BatchChangesView.self)
            try ensure(changes.commands.allSatisfy { $0.batchId == exchange.parameters[0] }, "changes of another batch")
        },
        FuzzRoute("GET", "/api/v1/batches/{batch}/events", query: ["after", "wait", "output", "terminal", "view"]) { exchange, _ in
            let lines = try checkBatchStream(exchange)
            if exchange.queryValue("terminal") == "true" {
                try ensure(lines.allSatisfy { $0.command.map(\.terminal) ?? true }, "terminal=true listed a command that has not ended")
                try ensure(lines.allSatisfy { $0.brief.map(\.state.isTerminal) ?? true }, "terminal=true listed a brief of a command that has not ended")
            }
            let compact = exchange.queryValue("view") == "compact"
            try ensure(lines.allSatisfy { compact ? $0.command == nil : $0.brief == nil }, "a command line in the other view than asked")
            try ensure(lines.allSatisfy { ($0.output?.agent != nil) == compact || $0.output == nil }, "an output line names its agent only in the compact view")
        },
        FuzzRoute("GET", "/api/v1/batches/{batch}/results", query: ["output"]) { exchange, _ in
            let lines = try checkBatchStream(exchange)
            try ensure(lines.last?.end?.commands == lines.count - 1, "the end line does not count the command lines")
        },
        FuzzRoute("POST", "/api/v1/enrollment-tokens", body: .enrollmentToken) { exchange, world in
            let view = try exchange.decode(EnrollmentTokenView.self)
            let (secret, key) = WorkSigning.splitEnrollmentToken(view.token ?? "")
            try ensure(secret.hasPrefix("gre_") && key.map(WorkSigning.tokenKeyPart) == world.serverKeyPart, "token \(view.token ?? "nil")")
            let asked = exchange.body?.isEmpty ?? true ? EnrollmentTokenRequest(expiresSeconds: nil, uses: nil) : exchange.decodeBody(EnrollmentTokenRequest.self)
            let request = try #require(asked, "created a token from a body that is not an enrollment token request")
            try ensure(view.usesLeft == request.uses ?? 1, "asked for \(String(describing: request.uses)) uses, got \(view.usesLeft)")
            world.enrollmentTokens.append(view.id)
        },
        FuzzRoute("GET", "/api/v1/enrollment-tokens") { exchange, _ in
            try ensure(try exchange.decode([EnrollmentTokenView].self).allSatisfy { $0.token == nil }, "a secret was listed")
        },
        FuzzRoute("DELETE", "/api/v1/enrollment-tokens/{enrollmentToken}") { exchange, world in
            _ = try exchange.decode(OKView.self)
            let id = exchange.parameters[0]
            let listed = try await world.get("/api/v1/enrollment-tokens", as: [EnrollmentTokenView].self)
            try ensure(listed.first { $0.id == id }?.revoked == true, "the enrollment token is not revoked")
        },
        FuzzRoute("GET", "/api/v1/config") { exchange, world in
            try ensure(try exchange.decode(AgentConfig.self) == world.config, "not the config last accepted")
        },
        FuzzRoute("PUT", "/api/v1/config", body: .config) { exchange, world in
            let saved = try exchange.decode(AgentConfig.self)
            var sent = try #require(exchange.decodeBody(AgentConfig.self), "accepted a body that is not a config")
            sent.version = saved.version
            try ensure(saved == sent, "saved a config other than the one sent")
            try ensure(saved.version == world.config.version + 1, "version \(saved.version) after \(world.config.version)")
            try ensure(try await world.get("/api/v1/config", as: AgentConfig.self) == saved, "GET /config is not what PUT accepted")
            world.config = saved
        },
        FuzzRoute("POST", "/api/v1/tokens", body: .apiToken) { exchange, world in
            let view = try exchange.decode(APITokenView.self)
            let sent = try #require(exchange.decodeBody(APITokenRequest.self), "created a token from a body that is not a token request")
            try ensure(view.name == sent.name.trimmingCharacters(in: .whitespaces) && view.role == sent.role, "created \(view.name) as \(view.role)")
            let secret = try #require(view.token, "no secret in the answer")
            let (status, _) = try await world.send("GET", "/api/v1/agents", body: nil, authorization: "Bearer \(secret)")
            try ensure(status == 200, "the new token is refused with \(status)")
            world.tokens.append((view.id, secret))
        },
        FuzzRoute("GET", "/api/v1/tokens") { exchange, _ in
            try ensure(try exchange.decode([APITokenView].self).allSatisfy { $0.token == nil }, "a secret was listed")
        },
        FuzzRoute("DELETE", "/api/v1/tokens/{token}") { exchange, world in
            _ = try exchange.decode(OKView.self)
            let id = exchange.parameters[0]
            let listed = try await world.get("/api/v1/tokens", as: [APITokenView].self)
            try ensure(listed.first { $0.id == id }?.revokedAt != nil, "the token is not revoked")
            if let secret = world.tokens.first(where: { $0.id == id })?.secret {
                let (status, _) = try await world.send("GET", "/api/v1/agents", body: nil, authorization: "Bearer \(secret)")
                try ensure(status == 401, "a revoked token still gets \(status)")
            }
        },
        FuzzRoute("GET", "/api/v1/audit", query: ["limit"]) { exchange, _ in
            let entries = try exchange.decode([AuditEntry].self)
            try ensure(entries.count <= exchange.queryValue("limit").flatMap { Int($0) }.map { min(max($0, 1), 10_000) } ?? 10_000, "more than the limit")
        },
        FuzzRoute("GET", "/metrics") { exchange, _ in
            let text = String(decoding: exchange.response, as: UTF8.self)
            try ensure(text.contains("# TYPE gururmm_commands_total counter"), "the metrics lack the commands counter")
        },
    ]

    /// A created command exists, for exactly the agents asked for, with the text sent.
    private static func checkRun(_ exchange: Exchange, _ world: APIFuzzWorld) async throws {
        let answer = try exchange.decode(RunResponse.self)
        let sent = try #require(exchange.decodeBody(RunRequest.self), "created commands from a body that is not a run request")
        if sent.listCommands == false {
            try ensure(answer.commands.isEmpty && (answer.commandCount ?? 0) > 0, "list_commands false: listed \(answer.commands.count), counted \(String(describing: answer.commandCount))")
            world.batches.append(answer.batchId)
            return
        }
        try ensure(answer.commandCount == nil, "a command count in an answer that lists the commands")
        let expected: Set<String>
        if sent.all == true {
            expected = Set((world.agents + world.victims).map(\.id)).subtracting(world.revoked)
        } else {
            let ids = (sent.agents ?? []).map { world.agentId(for: $0) }
            try ensure(!ids.contains(nil), "ran on \(sent.agents ?? []), which are not all one agent each")
            expected = Set(ids.compactMap { $0 })
        }
        try ensure(Set(answer.commands.map(\.agentId)) == expected && answer.commands.count == expected.count,
                   "commands for \(answer.commands.map(\.agentId)), asked for \(expected.sorted())")
        for target in answer.commands {
            let view = try await world.get("/api/v1/commands/\(target.commandId)", as: CommandView.self)
            try ensure(view.batchId == answer.batchId && view.agentId == target.agentId, "command \(target.commandId) is not the one created")
            try ensure(view.text == sent.command ?? sent.script && view.kind == (sent.command != nil ? .shell : .script)
                       && view.interpreter == sent.interpreter, "command \(target.commandId) is not what was sent")
            world.commands.append(target.commandId)
        }
        world.batches.append(answer.batchId)
    }
}

/// Checks a streamed batch answer (NDJSON): every line a `BatchStreamLine` with one field, commands
/// of the asked batch only, and an `end` line last and only there; returns the lines.
@discardableResult
private func checkBatchStream(_ exchange: Exchange) throws -> [BatchStreamLine] {
    let text = exchange.response.split(separator: UInt8(ascii: "\n"))
    let lines = try text.map { line -> BatchStreamLine in
        do {
            return try APICoding.decoder().decode(BatchStreamLine.self, from: Data(line))
        } catch {
            throw FuzzViolation("a line of the streamed answer is not a BatchStreamLine: \(error)")
        }
    }
    try ensure(lines.last?.end != nil && lines.dropLast().allSatisfy { $0.end == nil }, "the end line is missing or not last")
    for line in lines {
        let fields = [line.command != nil, line.brief != nil, line.output != nil, line.end != nil].filter { $0 }.count
        try ensure(fields == 1, "a line with \(fields) fields")
        try ensure(line.command.map { exchange.parameters.first == nil || $0.batchId == exchange.parameters.first } ?? true, "a command of another batch")
    }
    return lines
}
