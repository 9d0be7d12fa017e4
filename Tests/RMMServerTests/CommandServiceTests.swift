import Crypto
import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTransport
import Testing
@testable import RMMServer

@Suite("CommandService")
struct CommandServiceTests {
    struct Harness {
        let store: SQLiteStore
        let agents: [AgentRecord]
        let registry: SessionRegistry
        let service: CommandService
        let settings: ServerSettings

        static func make(agents names: [String] = ["web-1", "web-2"], settings: ServerSettings = ServerSettings()) async throws -> Harness {
            let (store, agents) = try await Fixture.store(agents: names)
            let feed = ChangeFeed()
            let registry = SessionRegistry(store: store, feed: feed, settings: settings, config: .defaults, signer: Fixture.signer, logger: Fixture.quietLogger)
            let service = CommandService(store: store, registry: registry, feed: feed, settings: settings, logger: Fixture.quietLogger)
            return Harness(store: store, agents: agents, registry: registry, service: service, settings: settings)
        }

        /// Connects the first agent's session on `epoch` and reads the welcome off its link.
        func connectFirstAgent(epoch: Int) async throws -> TestLink {
            let session = await registry.session(for: agents[0].id)
            let link = try await TestLink.make()
            await session.attach(link: link.link, epoch: epoch, agentStream: "as", peerSaw: nil, now: Date())
            _ = try await link.drain()
            return link
        }
    }

    static func request(agents: [String]? = ["web-1"], all: Bool? = nil, command: String? = "uptime", script: String? = nil,
                        interpreter: String? = nil, timeout: Double? = nil, expires: Double? = nil) -> RunRequest {
        RunRequest(agents: agents, all: all, command: command, script: script, interpreter: interpreter, timeoutSeconds: timeout, expiresSeconds: expires)
    }

    /// Runs a request that must fail and returns the error.
    static func failure(_ h: Harness, _ request: RunRequest) async -> RequestError? {
        do {
            _ = try await h.service.run(request, by: "ops", now: Fixture.t0)
            Issue.record("request succeeded")
            return nil
        } catch let error as RequestError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("validation errors", arguments: [
        (request(command: ""), 400, "command is empty"),
        (request(command: "   "), 400, "command is empty"),
        (request(command: "ls", script: "echo"), 400, "not both"),
        (request(command: nil), 400, "give a command or a script"),
        (request(command: nil, script: ""), 400, "script is empty"),
        (request(command: "ls", interpreter: "/bin/bash"), 400, "interpreter only applies to a script"),
        (request(command: nil, script: "echo", interpreter: "bash"), 400, "absolute path"),
        (request(timeout: 0), 400, "timeout_seconds"),
        (request(timeout: 8 * 86_400), 400, "timeout_seconds"),
        (request(expires: -1), 400, "expires_seconds"),
        (request(agents: []), 400, "name at least one agent"),
        (request(agents: nil), 400, "name at least one agent"),
        (request(agents: ["web-1"], all: true), 400, "not both"),
        (request(agents: ["nope-42"]), 404, "'nope-42'"),
        (request(agents: ["web-1", "nope-42"]), 404, "'nope-42'"),
    ] as [(RunRequest, Int, String)])
    func validation(request: RunRequest, status: Int, message: String) async throws {
        let h = try await Harness.make()
        let error = try #require(await Self.failure(h, request))
        #expect(error.status == status)
        #expect(error.message.contains(message), "\(error.message)")
        // Nothing was stored for a refused request.
        #expect(try await h.store.commands(agentId: nil, limit: 10).isEmpty)
    }

    @Test("limits: a command line over 1 MiB and a script over the cap are 413")
    func sizeLimits() async throws {
        var settings = ServerSettings()
        settings.maxScriptBytes = 10
        let h = try await Harness.make(settings: settings)
        #expect(await Self.failure(h, Self.request(command: String(repeating: "x", count: (1 << 20) + 1)))?.status == 413)
        let script = try #require(await Self.failure(h, Self.request(command: nil, script: String(repeating: "x", count: 11))))
        #expect(script.status == 413)
        #expect(script.message.contains("limit is 10"))
    }

    @Test("command ids sort by creation time, one millisecond apart or more, and are unique within one")
    func commandIdsSortByTime() {
        let earlier = Date(timeIntervalSince1970: 1_764_480_000.123), later = earlier.addingTimeInterval(0.001)
        let first = CommandService.newCommandId(at: earlier), second = CommandService.newCommandId(at: later)
        #expect(first.hasPrefix("c_") && first.count == 30 && second.count == 30)
        #expect(first < second)
        #expect(String(first.dropFirst(2).prefix(12)) == "019ad334207b")  // 1764480000123 ms in hex, zero-padded
        #expect(Set((0..<1000).map { _ in CommandService.newCommandId(at: earlier) }).count == 1000)
    }

    @Test("the wire-size probe is never shorter than the frame a real command becomes")
    func wireSizeProbeBoundsTheRealFrame() throws {
        let signer = WorkSigner(key: Curve25519.Signing.PrivateKey())
        for text in ["true", String(repeating: "é\u{1}\"", count: 500)] {
            var real = CommandSpec(
                commandId: CommandService.newCommandId(at: Date()), kind: .script, text: text, interpreter: "/bin/bash",
                timeoutSeconds: 604_799.987654321, expiresAt: Int(WireRange.maxUnixSeconds)
            )
            real = signer.signed(real, for: "ag_0123456789abcdef", at: StreamPosition(stream: UUID().uuidString.lowercased(), seq: 9_876_543_210))
            let frame = try WireCodec().encode(Envelope(.command(real), seq: 9_876_543_210, ack: 9_876_543_210))
            let probed = try #require(CommandService.longestFrame(kind: .script, text: text, interpreter: "/bin/bash"))
            #expect(probed.count >= frame.count, "probe \(probed.count) bytes, real frame \(frame.count)")
        }
    }

    @Test("pending limit: a request for an agent at the limit is 429 and creates nothing, for any target")
    func pendingLimit() async throws {
        var settings = ServerSettings()
        settings.maxPendingCommandsPerAgent = 2
        let h = try await Harness.make(settings: settings)
        for _ in 0..<2 { _ = try await h.service.run(Self.request(agents: ["web-1"]), by: "ops", now: Fixture.t0) }
        let error = try #require(await Self.failure(h, Self.request(agents: ["web-2", "web-1"])))
        #expect(error.status == 429)
        #expect(error.message.contains("nothing was queued: 1 target agent(s) already have the maximum of 2 pending"), "\(error.message)")
        #expect(error.message.contains("web-1 (2)") && !error.message.contains("web-2"), "\(error.message)")
        #expect(try await h.store.commands(agentId: h.agents[1].id, limit: 10).isEmpty, "no partial fan-out")

        // A command that ends no longer counts.
        let first = try #require(try await h.store.commands(agentId: h.agents[0].id, limit: 1).first)
        _ = try await h.service.cancel(commandId: first.id, reason: "make room", now: Fixture.t0)
        let (_, commands, _) = try await h.service.run(Self.request(agents: ["web-2", "web-1"]), by: "ops", now: Fixture.t0)
        #expect(commands.count == 2)
    }

    @Test("pending limit: the 429 names at most five agents, fullest first")
    func pendingLimitMessage() {
        let targets = (1...7).map { i in CommandService.Target(id: "ag_\(i)", name: "web-\(i)") }
        let counts = Dictionary(uniqueKeysWithValues: (1...7).map { ("ag_\($0)", $0 == 4 ? 12 : 10) })
        let error = CommandService.tooManyPending(limit: 10, counts: counts, targets: targets)
        #expect(error.status == 429)
        #expect(error.message.contains("7 target agent(s) already have the maximum of 10 pending"))
        #expect(error.message.contains(": web-4 (12), web-1 (10), web-2 (10), web-3 (10), web-5 (10) and 2 more."), "\(error.message)")
        #expect(error.message.contains("--max-pending-per-agent"))
    }

    @Test("unknown agent: 404 naming it")
    func unknownAgent() async throws {
        let h = try await Harness.make()
        let error = try #require(await Self.failure(h, Self.request(agents: ["db-7"])))
        #expect(error.status == 404)
        #expect(error.message == "no agent with id or name 'db-7'")
    }

    @Test("revoked agent: 409; all with no agents: 404")
    func revokedAndEmpty() async throws {
        let h = try await Harness.make()
        try await h.store.revokeAgent(id: h.agents[1].id, now: Fixture.t0)
        let revoked = try #require(await Self.failure(h, Self.request(agents: ["web-2"])))
        #expect(revoked.status == 409)
        #expect(revoked.message.contains("revoked"))
        // `all` skips revoked agents.
        let (_, commands, _) = try await h.service.run(Self.request(agents: nil, all: true), by: "ops", now: Fixture.t0)
        #expect(commands.map(\.agentId) == [h.agents[0].id])

        let empty = try await Harness.make(agents: [])
        #expect(await Self.failure(empty, Self.request(agents: nil, all: true))?.status == 404)
    }

    @Test("run stores one queued command per agent (deduplicated), with defaults, in one batch")
    func runStores() async throws {
        let h = try await Harness.make()
        let (batchId, commands, agents) = try await h.service.run(
            Self.request(agents: ["web-1", "web-2", h.agents[0].id], command: "df -h"), by: "alice", now: Fixture.t0
        )
        #expect(commands.count == 2)
        #expect(Set(commands.map(\.agentId)) == Set(h.agents.map(\.id)))
        #expect(agents.count == 2)
        #expect(batchId.hasPrefix("b_"))
        for command in commands {
            #expect(command.id.hasPrefix("c_"))
            #expect(command.batchId == batchId)
            #expect(command.kind == .shell)
            #expect(command.createdBy == "alice")
            #expect(command.timeoutSeconds == h.settings.defaultTimeoutSeconds)
            #expect(command.expiresAt == Fixture.at(h.settings.defaultExpirySeconds))
            // No agent is connected: the command waits, queued.
            #expect(try await h.store.command(id: command.id)?.state == .queued)
        }
        #expect(try await h.store.batch(id: batchId).count == 2)
    }

    @Test("run hands commands to a connected session, which writes them")
    func runDelivers() async throws {
        let h = try await Harness.make()
        let link = try await h.connectFirstAgent(epoch: 1)
        let (_, commands, _) = try await h.service.run(Self.request(command: nil, script: "echo hi", interpreter: "/bin/bash"), by: "ops")
        let sent = try await link.messages().commands
        #expect(sent.map(\.spec.commandId) == commands.map(\.id))
        #expect(sent.first?.spec.kind == .script)
        #expect(sent.first?.spec.interpreter == "/bin/bash")
        #expect(try await h.store.command(id: commands[0].id)?.state == .sent)
    }

    @Test("a command to a connected agent is stored `sent` on its connection with the insert; one to an offline agent `queued`")
    func runRecordsSentWithTheInsert() async throws {
        let h = try await Harness.make()
        let link = try await h.connectFirstAgent(epoch: 7)
        let (_, commands, _) = try await h.service.run(Self.request(agents: ["web-1", "web-2"]), by: "ops")
        let toConnected = try #require(commands.first { $0.agentId == h.agents[0].id })
        let toOffline = try #require(commands.first { $0.agentId == h.agents[1].id })
        #expect(try await link.messages().commands.map(\.spec.commandId) == [toConnected.id])
        let history = try await h.store.events(commandId: toConnected.id)
        #expect(history.map { "\($0.state.rawValue) \($0.reason ?? "-")" } == ["queued -", "sent epoch 7"])
        #expect(Set(history.map(\.at)).count == 1, "both stamped with the creation time: written together")
        #expect(try await h.store.events(commandId: toOffline.id).map(\.state) == [.queued])
    }

    @Test("expireOverdue: an undelivered command of an offline agent ends expired, saying the agent was offline")
    func expireOffline() async throws {
        let h = try await Harness.make()
        let session = await h.registry.session(for: h.agents[0].id)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: Fixture.t0)
        await session.detach(epoch: 1, closure: LinkClosure(code: 4004, reason: "no data frame from agent for 45 s", byPeer: false), now: Fixture.at(1))

        let (_, commands, _) = try await h.service.run(Self.request(expires: 10), by: "ops", now: Fixture.at(2))
        let id = commands[0].id
        // Within expiry plus grace: nothing happens.
        await h.service.expireOverdue(now: Fixture.at(2 + 10 + h.settings.expiryGrace - 1))
        #expect(try await h.store.command(id: id)?.state == .queued)
        #expect(await session.snapshot().pendingOutbound == 1)

        await h.service.expireOverdue(now: Fixture.at(2 + 10 + h.settings.expiryGrace + 1))
        let expired = try #require(try await h.store.command(id: id))
        #expect(expired.state == .expired)
        let reason = try #require(expired.reason)
        #expect(reason.contains("offline"))
        #expect(reason.contains("no data frame from agent"))
        // The session no longer holds it, so a reconnect does not send it.
        #expect(await session.snapshot().pendingOutbound == 0)
        let l2 = try await TestLink.make()
        await session.attach(link: l2.link, epoch: 2, agentStream: "as", peerSaw: nil, now: Fixture.at(60))
        #expect(try await l2.messages().commands.isEmpty)
        // Expiring again is a no-op.
        await h.service.expireOverdue(now: Fixture.at(3600))
        #expect(try await h.store.events(commandId: id).map(\.state) == [.queued, .expired])
    }

    @Test("expireOverdue: never-connected agent, and a connected agent that never acked, get distinct reasons")
    func expireReasons() async throws {
        let h = try await Harness.make()
        let (_, never, _) = try await h.service.run(Self.request(agents: ["web-2"], expires: 1), by: "ops", now: Fixture.t0)
        let session = await h.registry.session(for: h.agents[0].id)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 4, agentStream: "as", peerSaw: nil, now: Fixture.t0)
        let (_, unacked, _) = try await h.service.run(Self.request(agents: ["web-1"], expires: 1), by: "ops", now: Fixture.t0)
        #expect(try await h.store.command(id: unacked[0].id)?.state == .sent)

        await h.service.expireOverdue(now: Fixture.at(60))
        let a = try #require(try await h.store.command(id: never[0].id))
        #expect(a.state == .expired)
        #expect(a.reason?.contains("has not connected") == true)
        let b = try #require(try await h.store.command(id: unacked[0].id))
        #expect(b.state == .expired)
        #expect(b.reason?.contains("epoch 4") == true)
        #expect(b.reason?.contains("downlink never proven") == true)
    }

    @Test("cancel: a queued command ends at once; a sent one gets a cancel message; an ended one is 409")
    func cancel() async throws {
        let h = try await Harness.make()
        let (_, queued, _) = try await h.service.run(Self.request(agents: ["web-2"]), by: "ops", now: Fixture.t0)
        let cancelled = try await h.service.cancel(commandId: queued[0].id, reason: "operator", now: Fixture.at(1))
        #expect(cancelled.state == .cancelled)
        do {
            _ = try await h.service.cancel(commandId: queued[0].id, reason: "again")
            Issue.record("second cancel succeeded")
        } catch let error as RequestError {
            #expect(error.status == 409)
        }
        do {
            _ = try await h.service.cancel(commandId: "c_missing", reason: "x")
            Issue.record("cancel of unknown succeeded")
        } catch let error as RequestError {
            #expect(error.status == 404)
            #expect(error.message.contains("c_missing"))
        }

        let session = await h.registry.session(for: h.agents[0].id)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: Date())
        let (_, sent, _) = try await h.service.run(Self.request(), by: "ops")
        _ = try await link.drain()
        let still = try await h.service.cancel(commandId: sent[0].id, reason: "stop it")
        #expect(still.state == .sent)  // only the agent can say whether it started
        let messages = try await link.messages()
        let cancel = try #require(messages.compactMap { e -> (Int?, Cancel)? in
            if case .cancel(let c) = e.message { return (e.seq, c) }
            return nil
        }.first)
        #expect(cancel.1.commandId == sent[0].id)
        #expect(cancel.1.reason == "stop it")
        #expect(cancel.0 != nil)
    }
}
