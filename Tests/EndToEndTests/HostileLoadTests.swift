import Crypto
import Foundation
import RMMAPI
import RMMProtocol
import RMMServer
import RMMTestSupport
import Synchronization
import Testing

/// One kind of hostile connection, and how the server must end it when no per-address limit applies.
enum HostileKind: String, CaseIterable, Sendable {
    /// Bytes that are not HTTP (a TLS hello on the plain port, an SSH banner, binary junk).
    case garbage
    /// The upgrade request, one byte every 100 ms: slower than the request deadline.
    case dribbledRequest
    /// The upgrade, then nothing.
    case silent
    /// The upgrade, then a frame header promising 1,000 bytes, 10 of them, and silence.
    case truncatedFrame
    /// The upgrade, then a frame longer than 1 MiB: its header and 4 KiB of it, or all of it.
    case oversizedFrame
    /// A well-signed hello for an agent id that does not exist.
    case unknownAgent
    /// A hello for a real agent's id, signed with another key.
    case forgedSignature
    /// An enrollment with a token the server never issued.
    case forgedToken
    /// A hello or enroll captured from an earlier connection, so signed over another nonce.
    case replayedAuth
    /// What only a server sends (`command`, `welcome`) instead of hello or enroll.
    case serverMessage

    var expected: HostileOutcome {
        switch self {
        case .garbage: .http(400)
        case .dribbledRequest: .http(408)
        case .silent, .truncatedFrame: .close(.handshakeTimeout)
        case .oversizedFrame: .close(.messageTooBig)
        case .unknownAgent, .forgedSignature, .forgedToken, .replayedAuth: .close(.authenticationFailed)
        case .serverMessage: .close(.protocolError)
        }
    }

    /// What the close reason (or the HTTP answer) must say.
    var detailHint: String? {
        switch self {
        case .garbage: nil
        case .dribbledRequest: "no complete HTTP request within 2 s"
        case .silent, .truncatedFrame: "no hello within 2 s"
        case .oversizedFrame: "websocket error: invalidFrameLength"
        case .unknownAgent: "unknown agent id"
        case .forgedSignature: "signature does not match the key enrolled"
        case .forgedToken: "enrollment refused"
        case .replayedAuth: "signature does not match"
        case .serverMessage: "expected hello or enroll first"
        }
    }

    /// Whether its refusal counts against the address's failed authentications.
    var countsAsFailure: Bool {
        switch self {
        case .oversizedFrame, .unknownAgent, .forgedSignature, .forgedToken, .replayedAuth, .serverMessage: true
        case .garbage, .dribbledRequest, .silent, .truncatedFrame: false
        }
    }

    /// Whether it gets as far as the WebSocket upgrade, after which a blocked address gets 4009.
    var upgrades: Bool { self != .garbage && self != .dribbledRequest }

    static let failing = allCases.filter(\.countsAsFailure)
}

/// The hostile connections from one loopback address.
struct HostilePlan: Sendable {
    enum Pace: Sendable {
        /// One after the other: the outcome of each is known before the next starts.
        case oneByOne
        /// All at once, to hold more unauthenticated connections than the address may.
        case allAtOnce
    }

    var address: String
    var kinds: [HostileKind]
    var pace: Pace
}

/// What one hostile connection did and how it ended.
struct HostileRecord: Sendable {
    var address: String
    var index: Int
    var kind: HostileKind
    var outcome: HostileOutcome
    var detail: String
    /// The client itself sent its misbehaviour only after the server's handshake deadline could have
    /// passed (a starved test process): a 4005 is then the right answer whatever the kind.
    var sentPastDeadline: Bool
}

/// What the hostile clients need from the real deployment.
struct HostileMaterial: Sendable {
    var port: Int
    /// A real agent's id, for hellos with a forged signature.
    var realAgentId: String
    /// A hello and an enroll that were valid on earlier connections.
    var replays: [Envelope]
    /// Frames declaring more than the largest allowed message: the whole of it, and its header with
    /// the first 4 KiB. Made before any connection opens: masking a megabyte in a debug build, after
    /// the challenge, could take the connection past the server's handshake deadline on a busy machine.
    var oversizedFrames: (whole: [UInt8], start: [UInt8])

    init(port: Int, realAgentId: String, replays: [Envelope]) {
        self.port = port
        self.realAgentId = realAgentId
        self.replays = replays
        let length = WireLimits.maxFrameBytes + 1
        oversizedFrames = (RawWebSocket.frame(payload: Array(repeating: 0x61, count: length)),
                           RawWebSocket.frame(payload: Array(repeating: 0x61, count: 4096), declaredLength: length))
    }
}

/// One real command of the load and what its agent's ledger must show for it.
struct LedgerJob: Sendable {
    var agent: String
    var tag: String
    /// Carries the marker the tampering relay rewrites.
    var tampered: Bool
    var command: String
}

/// Failed checks, recorded as issues as they happen; `finish()` then throws, so that `withFleet`
/// attaches the processes' logs to the failure.
struct CheckList {
    private var failed = 0

    mutating func expect(_ condition: Bool, _ message: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard !condition else { return }
        failed += 1
        Issue.record(Comment(rawValue: message()), sourceLocation: sourceLocation)
    }

    func finish() throws {
        if failed > 0 { throw E2EError("\(failed) checks failed (recorded above)") }
    }
}

/// Set once the hostile connections are all done.
final class DoneFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

extension EndToEnd {
    /// The security issue's load test: while 20 real agents keep receiving commands, hundreds of
    /// connections from other loopback addresses send garbage, truncated and oversized frames, wrong
    /// and replayed credentials and server messages, or dribble their handshake; relays in front of
    /// three agents tamper with or replay command frames.
    @Suite("End to end: hostile clients under load", .serialized)
    struct HostileLoadTests {
        private static let maxUnauthenticated = 8
        private static let maxFailures = 20
        private static let handshakeTimeoutSeconds = 2
        private static let flags = [
            "--handshake-timeout", "\(handshakeTimeoutSeconds)", "--max-unauthenticated-per-address", "\(maxUnauthenticated)", "--max-failed-auth-per-minute", "\(maxFailures)",
        ]
        private static let names = (1...20).map { String(format: "agent-%02d", $0) }
        private static let tamperedAgents: Set = ["agent-19", "agent-20"]
        private static let replayedAgent = "agent-18"
        private static let marker = "SAFE-"

        @Test("the server stays up, every real command completes exactly once, every hostile connection is closed with the right code")
        func hostileLoad() async throws {
            let server = try await E2EServer.start(Self.flags)
            let tamper: FaultProxy
            let replay: FaultProxy
            do {
                tamper = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            } catch {
                await server.stop()
                throw error
            }
            do {
                replay = try await FaultProxy.start(upstreamHost: "127.0.0.1", upstreamPort: server.agentPort)
            } catch {
                try? await tamper.stop()
                await server.stop()
                throw error
            }
            let proxies = (tamper: tamper, replay: replay)
            proxies.tamper.setMode(.tamperCommands(marker: Self.marker, replacement: "EVIL-"))
            proxies.replay.setMode(.replayCommands)
            var routes = [Self.replayedAgent: "ws://127.0.0.1:\(proxies.replay.port)"]
            for name in Self.tamperedAgents { routes[name] = "ws://127.0.0.1:\(proxies.tamper.port)" }
            await withFleet(on: server, agents: Self.names, agentURL: { routes[$0] }) { server, agents in
                try await exercise(server, agents: agents, proxies: proxies)
            }
            try? await proxies.tamper.stop()
            try? await proxies.replay.stop()
        }

        private func exercise(_ server: E2EServer, agents: [E2EAgent], proxies: (tamper: FaultProxy, replay: FaultProxy)) async throws {
            let api = server.api
            let clock = ContinuousClock()
            let started = clock.now
            let epochs = Dictionary(uniqueKeysWithValues: try await api.agents().map { ($0.name, $0.epoch) })
            let material = HostileMaterial(
                port: server.agentPort,
                realAgentId: try #require(try await api.agent(named: "agent-01")).id,
                replays: try await captureAuthentications(server)
            )
            let plans = Self.plans()
            let ledgers = try freeTemporaryDirectory(prefix: "gururmm-ledgers")

            // The hostile connections and the real work at the same time; the work goes on in rounds
            // (at least five) until the last hostile connection has ended.
            let done = DoneFlag()
            async let hostile = Self.run(plans, material: material, done: done)
            var results: [(job: LedgerJob, view: CommandView)] = []
            var rounds = 0
            while rounds < 5 || (!done.isSet && rounds < 30) {
                rounds += 1
                results += try await Self.workRound(rounds, api: api, ledgers: ledgers)
            }
            let records = await hostile
            let elapsed = clock.now - started

            let byKind = Dictionary(grouping: records, by: \.kind).sorted { $0.key.rawValue < $1.key.rawValue }.map { kind, records in
                let seen = Dictionary(grouping: records, by: \.outcome).map { "\($0.key) ×\($0.value.count)" }.sorted().joined(separator: ", ")
                return "  \(kind.rawValue) (expected \(kind.expected)): \(seen)"
            }
            let late = records.filter { $0.sentPastDeadline && $0.kind.upgrades && $0.kind.expected != .close(.handshakeTimeout) }.count
            print("hostile load: \(records.count) hostile connections from \(plans.count) addresses (\(late) sent past the handshake deadline), "
                  + "\(results.count) real commands in \(rounds) rounds, \(elapsed)\n" + byKind.joined(separator: "\n"))
            var checks = CheckList()

            // Every hostile connection ended as expected, the limits applied to exactly the addresses
            // that went past them, and the server said so for those only.
            let problems = Self.problems(in: records, plans: plans)
            checks.expect(problems.isEmpty, "\(problems.count) hostile connections ended wrongly:\n\(problems.prefix(40).joined(separator: "\n"))")
            checks.expect(records.count == plans.reduce(0) { $0 + $1.kinds.count } && records.count >= 300, "\(records.count) hostile connections")
            let log = server.process.logContents()
            let warned = Set(log.split(separator: "\n").compactMap { line -> String? in
                guard let range = line.range(of: "failed agent authentications from ") else { return nil }
                return line[range.upperBound...].split(separator: " ").first.map(String.init)
            })
            let overLimit = Set(plans.filter { $0.kinds.filter(\.countsAsFailure).count >= Self.maxFailures }.map(\.address))
            checks.expect(warned == overLimit, "the server warned about \(warned.sorted()), not \(overLimit.sorted())")

            // Every real command completed once: the good ones ran exactly once, the tampered ones were
            // refused by the agent and never ran.
            let tamperedJobs = results.filter(\.job.tampered)
            checks.expect(tamperedJobs.count == rounds * Self.tamperedAgents.count && results.count == rounds * (Self.names.count + Self.tamperedAgents.count),
                          "\(results.count) results, \(tamperedJobs.count) tampered, in \(rounds) rounds")
            for (job, view) in results {
                if job.tampered {
                    checks.expect(view.state == .rejected && view.reason?.contains("signature") == true, "\(job.tag): \(view.state) \(view.reason ?? "")")
                } else {
                    checks.expect(view.state == .succeeded, "\(job.tag): \(view.state) \(view.reason ?? "")")
                }
            }
            for name in Self.names {
                let path = ledgers + "/ledger-" + name
                let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
                let expected = results.filter { $0.job.agent == name && !$0.job.tampered }.map(\.job.tag)
                checks.expect(lines.sorted() == expected.sorted(), "ledger of \(name): \(lines.sorted()), expected \(expected.sorted())")
                checks.expect(!lines.contains { $0.contains(Self.marker) || $0.contains("EVIL-") }, "a tampered command ran on \(name)")
            }
            checks.expect(proxies.tamper.frameCounts.tampered == tamperedJobs.count, "tampering relay: \(proxies.tamper.frameCounts)")
            checks.expect(proxies.replay.frameCounts.replayed >= rounds, "replaying relay: \(proxies.replay.frameCounts)")

            // The server stayed up (it has no supervisor: running now means it never died) and the real
            // agents were never disturbed.
            checks.expect(server.process.isRunning, "the server exited")
            checks.expect(try await api.raw("GET", "/api/v1/health").0 == 200, "health is not 200")
            let crashes = log.split(separator: "\n").filter { line in
                ["fatal", "crash", "backtrace", "panic"].contains { line.lowercased().contains($0) }
            }
            checks.expect(crashes.isEmpty, "the server log says: \(crashes.prefix(5))")
            checks.expect(!log.contains("too many failed authentications from 127.0.0.1 "), "a real agent's address was blocked")
            for view in try await api.agents() where epochs[view.name] != nil {
                checks.expect(view.status == .online && view.epoch == epochs[view.name],
                              "\(view.name) is \(view.status) at epoch \(view.epoch), was \(epochs[view.name] ?? 0): it reconnected during the load")
            }
            let stopped = agents.filter { !$0.process.isRunning }.map(\.name)
            checks.expect(stopped.isEmpty, "agents that exited: \(stopped)")
            try checks.finish()
        }

        // MARK: the plan

        /// Twenty addresses that each try every kind once (too few failures to be limited), eight that
        /// each fail 20 times and go on (4009 from then on), and two that open more connections at once
        /// than an address may hold (429 for the rest).
        static func plans() -> [HostilePlan] {
            let kinds = HostileKind.allCases
            var plans: [HostilePlan] = []
            for lane in 0..<20 {
                let rotated = Array(kinds[(lane % kinds.count)...] + kinds[..<(lane % kinds.count)])
                plans.append(HostilePlan(address: "127.0.0.\(2 + lane)", kinds: rotated, pace: .oneByOne))
            }
            for lane in 0..<8 {
                // Twenty failures with two harmless kinds among them, then every kind once more.
                var failing = (0..<maxFailures).map { HostileKind.failing[($0 + lane) % HostileKind.failing.count] }
                failing.insert(.silent, at: 7)
                failing.insert(.garbage, at: 14)
                let after: [HostileKind] = [.unknownAgent, .silent, .garbage, .truncatedFrame, .oversizedFrame, .dribbledRequest, .serverMessage, .forgedToken]
                plans.append(HostilePlan(address: "127.0.0.\(22 + lane)", kinds: failing + after, pace: .oneByOne))
            }
            for lane in 0..<2 {
                let kinds = (0..<(maxUnauthenticated + 4)).map { $0.isMultiple(of: 2) ? HostileKind.silent : .dribbledRequest }
                plans.append(HostilePlan(address: "127.0.0.\(30 + lane)", kinds: kinds, pace: .allAtOnce))
            }
            return plans
        }

        /// What went wrong, one line per hostile connection that did not end as its plan says.
        ///
        /// One by one, a connection from an address with fewer than 20 refusals counted against it
        /// must end with its kind's code; from the 20th on, with 4009 if it gets to the upgrade (right
        /// after the 20th either code: the server counts a refusal just after sending it). All at
        /// once, exactly `connections - limit` of them get 429.
        static func problems(in records: [HostileRecord], plans: [HostilePlan]) -> [String] {
            var problems: [String] = []
            let byAddress = Dictionary(grouping: records, by: \.address)
            for plan in plans {
                let records = (byAddress[plan.address] ?? []).sorted { $0.index < $1.index }
                var failures = 0
                var blocked = false
                for record in records {
                    let kind = record.kind
                    var allowed: Set<HostileOutcome> = [kind.expected]
                    var hint = kind.detailHint
                    switch plan.pace {
                    case .oneByOne where kind.upgrades && (failures > maxFailures || blocked):
                        allowed = [.close(.rateLimited)]
                    case .oneByOne where kind.upgrades && failures == maxFailures:
                        allowed.insert(.close(.rateLimited))
                    case .allAtOnce:
                        allowed.insert(.http(429))
                    default:
                        break
                    }
                    if record.sentPastDeadline && kind.upgrades && record.outcome == .close(.handshakeTimeout) {
                        allowed.insert(.close(.handshakeTimeout))
                        hint = HostileKind.silent.detailHint
                    }
                    if record.outcome == .close(.rateLimited) { hint = "too many failed authentications from \(plan.address) (\(maxFailures) in the last minute)" }
                    if record.outcome == .http(429) { hint = "too many unauthenticated connections from \(plan.address): at most \(maxUnauthenticated) per address" }
                    if !allowed.contains(record.outcome) {
                        problems.append("\(plan.address) #\(record.index) \(kind.rawValue) after \(failures) failures: \(record.outcome), expected one of \(allowed): \(record.detail)")
                    } else if let hint, !record.detail.contains(hint) {
                        problems.append("\(plan.address) #\(record.index) \(kind.rawValue): \(record.outcome) without '\(hint)': \(record.detail)")
                    }
                    if kind.countsAsFailure && record.outcome == kind.expected { failures += 1 }
                    if record.outcome == .close(.rateLimited) { blocked = true }
                }
                if plan.pace == .allAtOnce {
                    let refused = records.filter { $0.outcome == .http(429) }.count
                    if refused != plan.kinds.count - maxUnauthenticated {
                        problems.append("\(plan.address): \(refused) of \(plan.kinds.count) connections at once refused with 429, expected \(plan.kinds.count - maxUnauthenticated)")
                    }
                }
            }
            return problems
        }

        // MARK: hostile connections

        /// Runs every plan's connections, the plans side by side, and sets `done` at the end.
        static func run(_ plans: [HostilePlan], material: HostileMaterial, done: DoneFlag) async -> [HostileRecord] {
            defer { done.set() }
            return await withTaskGroup(of: [HostileRecord].self) { group in
                for (number, plan) in plans.enumerated() {
                    group.addTask {
                        let connections = plan.kinds.enumerated().map { (index: $0.offset, kind: $0.element, variant: number + $0.offset) }
                        switch plan.pace {
                        case .oneByOne:
                            var records: [HostileRecord] = []
                            for connection in connections {
                                let ended = await hostileConnection(connection.kind, variant: connection.variant, from: plan.address, material: material)
                                records.append(HostileRecord(address: plan.address, index: connection.index, kind: connection.kind, outcome: ended.outcome, detail: ended.detail,
                                                             sentPastDeadline: ended.sentPastDeadline))
                            }
                            return records
                        case .allAtOnce:
                            return await withTaskGroup(of: HostileRecord.self) { crowd in
                                for connection in connections {
                                    crowd.addTask {
                                        let ended = await hostileConnection(connection.kind, variant: connection.variant, from: plan.address, material: material)
                                        return HostileRecord(address: plan.address, index: connection.index, kind: connection.kind, outcome: ended.outcome, detail: ended.detail,
                                                             sentPastDeadline: ended.sentPastDeadline)
                                    }
                                }
                                return await crowd.reduce(into: []) { $0.append($1) }
                            }
                        }
                    }
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
        }

        /// Opens one hostile connection from `address`, misbehaves as `kind` says, and reports how the
        /// server ended it. `variant` picks among the ways of a kind.
        static func hostileConnection(_ kind: HostileKind, variant: Int, from address: String, material: HostileMaterial)
            async -> (outcome: HostileOutcome, detail: String, sentPastDeadline: Bool) {
            // The server's deadline starts after the connect began, so a misbehaviour sent within the
            // deadline of that instant was sent in time: a 4005 for it is then the server's fault.
            let began = ContinuousClock.now
            let client: RawAgentPortClient
            do {
                client = try await RawAgentPortClient.connect(port: material.port, from: address)
            } catch {
                return (.closedWithoutCode, "could not connect: \(error)", false)
            }
            do {
                try await misbehave(kind, variant: variant, client: client, material: material)
            } catch {
                // No challenge in time, or a message that would not encode: the outcome says what
                // the server did meanwhile.
            }
            let sentPastDeadline = ContinuousClock.now - began >= .seconds(handshakeTimeoutSeconds)
            let ended = await client.end(within: .seconds(10))
            return (ended.outcome, ended.detail, sentPastDeadline)
        }

        private static func misbehave(_ kind: HostileKind, variant: Int, client: RawAgentPortClient, material: HostileMaterial) async throws {
            switch kind {
            case .garbage:
                let junk: [[UInt8]] = [
                    [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + Array(repeating: 0x42, count: 32),
                    Array("SSH-2.0-OpenSSH_9.6\r\n".utf8),
                    (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 1) },
                ]
                await client.send(junk[variant % junk.count])
                return
            case .dribbledRequest:
                for byte in RawWebSocket.upgradeRequest().utf8 where !client.tcp.isClosed {
                    await client.send([byte])
                    // The pace is the misbehaviour under test, not a wait for anything.
                    try await Task.sleep(for: .milliseconds(100))
                }
                return
            default:
                break
            }
            guard let challenge = try await client.upgrade() else { return }
            let key = Curve25519.Signing.PrivateKey()
            let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
            switch kind {
            case .garbage, .dribbledRequest, .silent:
                return
            case .truncatedFrame:
                await client.send(RawWebSocket.frame(payload: Array(#"{"v":2,"t":"#.utf8), declaredLength: 1000))
            case .oversizedFrame:
                await client.send(variant.isMultiple(of: 4) ? material.oversizedFrames.whole : material.oversizedFrames.start)
            case .unknownAgent:
                let agentId = "ag_nobody\(variant)"
                let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: agentId, key: key)
                try await client.send(Envelope(.hello(Hello(agentId: agentId, signature: signature, facts: malloryFacts, stream: "s", received: nil))))
            case .forgedSignature:
                let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: material.realAgentId, key: key)
                try await client.send(Envelope(.hello(Hello(agentId: material.realAgentId, signature: signature, facts: malloryFacts, stream: "s", received: nil))))
            case .forgedToken:
                let signature = try AgentProof.sign(nonce: challenge.nonce, agentId: publicKey, key: key)
                try await client.send(Envelope(.enroll(Enroll(token: "gre_forged\(variant)", publicKey: publicKey, signature: signature, facts: malloryFacts, stream: "s"))))
            case .replayedAuth:
                try await client.send(material.replays[variant % material.replays.count])
            case .serverMessage:
                let command = CommandSpec(commandId: "c_evil\(variant)", kind: .shell, text: "id", timeoutSeconds: 5, expiresAt: Int(Date().timeIntervalSince1970) + 5)
                let welcome = Welcome(agentId: "ag_evil", epoch: 1, stream: "s", received: nil, heartbeatId: 1, config: .defaults)
                try await client.send(variant.isMultiple(of: 2) ? Envelope(.command(command), seq: 1) : Envelope(.welcome(welcome)))
            }
        }

        /// Enrolls one more identity through the protocol and authenticates it once, capturing the
        /// enroll and the hello: both were valid on their connections, and are replays on any other.
        private func captureAuthentications(_ server: E2EServer) async throws -> [Envelope] {
            let key = Curve25519.Signing.PrivateKey()
            let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
            let token = try await server.api.enrollToken(uses: 1)

            let first = try await RawAgentPortClient.connect(port: server.agentPort, from: "127.0.0.1")
            let nonce = try #require(try await first.upgrade()).nonce
            let enroll = Envelope(.enroll(Enroll(token: token, publicKey: publicKey, signature: try AgentProof.sign(nonce: nonce, agentId: publicKey, key: key),
                                                 facts: malloryFacts, stream: "s1")))
            try await first.send(enroll)
            guard case .welcome(let welcome)? = try await first.message(at: 1)?.message else {
                throw E2EError("the extra identity was not enrolled: \(first.reply.close?.reason ?? "no answer")")
            }
            await first.tcp.close()

            let second = try await RawAgentPortClient.connect(port: server.agentPort, from: "127.0.0.1")
            let secondNonce = try #require(try await second.upgrade()).nonce
            let hello = Envelope(.hello(Hello(agentId: welcome.agentId, signature: try AgentProof.sign(nonce: secondNonce, agentId: welcome.agentId, key: key),
                                              facts: malloryFacts, stream: "s2", received: nil)))
            try await second.send(hello)
            guard case .welcome? = try await second.message(at: 1)?.message else {
                throw E2EError("the captured hello was not accepted: \(second.reply.close?.reason ?? "no answer")")
            }
            await second.tcp.close()
            return [hello, enroll]
        }

        // MARK: real work

        /// One round of real work: a ledger line for every agent, and for each agent behind the
        /// tampering relay one more command carrying the marker. Returns each command's final state.
        static func workRound(_ round: Int, api: TestAPI, ledgers: String) async throws -> [(job: LedgerJob, view: CommandView)] {
            var jobs: [LedgerJob] = []
            for name in names {
                let tag = "R\(round)-\(name)-\(UUID().uuidString.prefix(8))"
                jobs.append(LedgerJob(agent: name, tag: tag, tampered: false, command: "echo \(tag) >> \(ledgers)/ledger-\(name)"))
                if tamperedAgents.contains(name) {
                    let tag = "\(marker)R\(round)-\(name)"
                    jobs.append(LedgerJob(agent: name, tag: tag, tampered: true, command: "echo \(tag) >> \(ledgers)/ledger-\(name)"))
                }
            }
            return try await withThrowingTaskGroup(of: (job: LedgerJob, view: CommandView).self) { group in
                for job in jobs {
                    group.addTask {
                        let batch = try await api.run([job.agent], job.command)
                        let view = try #require(try await api.finish(batch).first)
                        return (job, view)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
    }
}
