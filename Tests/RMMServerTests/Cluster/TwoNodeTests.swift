import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTransport
import Testing
@testable import RMMServer

/// Two nodes over one store, their signals on an in-process hub: every action from node A on an
/// agent connected to node B is done by B, and a reconnect to A supersedes B's route.
@Suite("Two nodes")
struct TwoNodeTests {
    struct Rig {
        let store: SQLiteStore
        let agentId: String
        let a: TestNode
        let b: TestNode

        static func make() async throws -> Rig {
            let (store, agents) = try await Fixture.store()
            let hub = SignalHub()
            return Rig(store: store, agentId: agents[0].id, a: .make("n_a", store: store, hub: hub), b: .make("n_b", store: store, hub: hub))
        }

        func stop() {
            a.task.cancel()
            b.task.cancel()
        }

        /// The agent connected to node B, its welcome read.
        func connectToB() async throws -> LinkLog {
            let log = LinkLog(try await b.connect(agentId, store: store).link)
            _ = try await log.all()
            return log
        }

        func run(on node: TestNode) async throws -> String {
            let request = RunRequest(agents: [agentId], all: nil, command: "uptime", script: nil, interpreter: nil, timeoutSeconds: nil, expiresSeconds: nil)
            let result = try await node.commands.run(request, by: "ops")
            return try #require(result.commands.first?.id)
        }

        /// The reasons of the command's `sent` events.
        func sentReasons(_ commandId: String) async throws -> [String] {
            try await store.events(commandId: commandId).filter { $0.state == .sent }.map { $0.reason ?? "" }
        }
    }

    @Test("a command created on node A reaches the agent on node B, stored queued then sent by B")
    func commandCrossesNodes() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        let id = try await rig.run(on: rig.a)
        #expect(try await eventually { try await b.commandIds() == [id] })
        let record = try #require(try await rig.store.command(id: id))
        #expect(record.state == .sent)
        let epoch = try #require(try await rig.store.agent(id: rig.agentId)).epoch
        #expect(try await rig.sentReasons(id) == [CommandAdmission.sentReason(epoch: epoch)])
        // A told the other nodes; it holds no stream of its own for the agent.
        #expect(rig.a.signals.published.withLock { $0 }.contains(.work(agentIds: [rig.agentId], batchId: record.batchId)))
        #expect(await rig.a.registry.existingSession(for: rig.agentId) == nil)
    }

    @Test("a lost work signal is found by B's sweep")
    func sweepFindsLostWork() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        // Inserted with no signal at all, as if the notification were lost.
        let records = try await Fixture.insert(["c_lost"], agent: rig.agentId, into: rig.store)
        #expect(try await b.commandIds().isEmpty)
        await rig.b.relay.sweep()
        #expect(try await eventually { try await b.commandIds() == records.map(\.id) })
    }

    @Test("a revoke and a config whose signals were lost are found by B's sweep")
    func sweepFindsLostRevokeAndConfig() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        var next = AgentConfig.defaults
        next.version = 2
        next.heartbeatInterval = 20
        let saved = try await rig.store.saveConfig(next)
        try await rig.store.revokeAgent(id: rig.agentId, now: Date())
        await rig.b.relay.sweep()
        #expect(await rig.b.registry.currentConfig.version == saved.version)
        #expect(try await eventually { try await b.closeCode() == CloseCode.revoked.rawValue })
    }

    @Test("a cancel whose signal was lost is found by B's sweep and sent once")
    func sweepFindsLostCancel() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        let id = try await rig.run(on: rig.a)
        #expect(try await eventually { try await b.commandIds() == [id] })
        // A's cancel stores the request before it signals.
        _ = try await rig.a.commands.cancel(commandId: id, reason: "first ask")
        #expect(try await rig.store.requestedCancels(agentIds: [rig.agentId]) == [rig.agentId: [id: "first ask"]])
        #expect(try await eventually { try await b.cancelIds() == [id] })
        // A second cancel, stored as if by a node whose signal never came: B already asked the
        // agent, so its sweep sends nothing again.
        await rig.b.relay.sweep()
        #expect(try await b.cancelIds() == [id])

        // Another command whose cancel is stored with no signal at all.
        let lost = try await rig.run(on: rig.a)
        #expect(try await eventually { try await b.commandIds().contains(lost) })
        try await rig.store.requestCancel(commandId: lost, reason: "signal lost", now: Date())
        #expect(try await b.cancelIds() == [id])
        await rig.b.relay.sweep()
        #expect(try await eventually { try await b.cancelIds() == [id, lost] })
    }

    @Test("cancel, evict, config and revoke from node A are done by node B")
    func actionsCrossNodes() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        let id = try await rig.run(on: rig.a)
        #expect(try await eventually { try await b.commandIds() == [id] })

        _ = try await rig.a.commands.cancel(commandId: id, reason: "operator changed their mind")
        #expect(try await eventually { try await b.cancelIds() == [id] })

        var next = AgentConfig.defaults
        next.version = 2
        next.heartbeatInterval = 20
        let saved = try await FleetConfigService(store: rig.store, registry: rig.a.registry).update(next, minimumVersion: 2, by: AuditActor(name: "ops", tokenId: nil, role: "admin", remote: "test"), now: Date())
        #expect(try await eventually {
            try await b.all().contains { item in
                if case .message(let envelope) = item, case .configUpdate(let update) = envelope.message { return update.config.version == saved.version }
                return false
            }
        })
        #expect(await rig.b.registry.currentConfig.version == saved.version)

        await rig.a.registry.signals.publish(.evict(agentId: rig.agentId, reason: "moved"))
        #expect(try await eventually { try await b.closeCode() == CloseCode.evicted.rawValue })

        let again = LinkLog(try await rig.b.connect(rig.agentId, store: rig.store).link)
        try await rig.store.revokeAgent(id: rig.agentId, now: Date())
        await rig.a.registry.revoke(agentId: rig.agentId, reason: "revoked")
        await rig.a.registry.signals.publish(.revoke(agentId: rig.agentId))
        #expect(try await eventually { try await again.closeCode() == CloseCode.revoked.rawValue })
    }

    @Test("a reconnect to node A supersedes B: B's guarded sent fails, B closes with 4002 and hands the work on at once, nothing is sent on both")
    func reconnectSupersedes() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        // The agent reconnects to A without B hearing of it (its signal lost): only the epoch tells.
        let record = try await rig.store.recordConnect(agentId: rig.agentId, facts: Fixture.facts("web-1"), now: Date())
        let aLink = try await TestLink.make()
        let onA = LinkLog(aLink)
        await rig.a.registry.session(for: rig.agentId).attach(link: aLink.link, epoch: record.epoch, agentStream: "as", peerSaw: nil, now: Date())
        let ids = try await Fixture.insert(["c_one", "c_two"], agent: rig.agentId, into: rig.store).map(\.id)
        // B learns of the work first (a sweep), and must not send it on its stale route.
        await rig.b.relay.sweep()
        #expect(try await eventually { try await b.closeCode() == CloseCode.superseded.rawValue })
        #expect(try await b.commandIds().isEmpty)
        #expect(await rig.b.registry.existingSession(for: rig.agentId)?.heldCommandIds() == [])
        // No sweep on A (its connection loaded its work before these were stored): B's hand-on
        // signal alone brings them.
        #expect(rig.b.signals.published.withLock { $0 }.contains(.handOn(agentId: rig.agentId)))
        #expect(try await eventually { try await onA.commandIds() == ids })
        for id in ids { #expect(try await rig.sentReasons(id) == [CommandAdmission.sentReason(epoch: record.epoch)]) }
    }

    @Test("commands handed to a session whose connection just ended are handed on to the agent's node")
    func workForAnEndedConnectionIsHandedOn() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        let session = try #require(await rig.b.registry.existingSession(for: rig.agentId))
        let epoch = try #require(session.liveEpoch.value)
        await session.detach(epoch: epoch, closure: LinkClosure(code: nil, reason: "gone", byPeer: true), now: Date())
        let records = try await Fixture.insert(["c_late"], agent: rig.agentId, into: rig.store)
        await session.enqueue(records)
        #expect(try await b.commandIds().isEmpty)
        #expect(rig.b.signals.published.withLock { $0 }.contains(.handOn(agentId: rig.agentId)))
    }

    @Test("a late detach on the node the agent left does not mark it offline: its flush carries the old epoch")
    func lateDetachLeavesTheAgentOnline() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        _ = try await rig.connectToB()
        let session = try #require(await rig.b.registry.existingSession(for: rig.agentId))
        let old = try #require(session.liveEpoch.value)
        // The agent connected to A (its signal not yet at B); then B's connection ends.
        let newer = try await rig.store.recordConnect(agentId: rig.agentId, facts: Fixture.facts("web-1"), now: Date())
        await session.detach(epoch: old, closure: LinkClosure(code: nil, reason: "gone", byPeer: true), now: Date().addingTimeInterval(1))
        let stored = try #require(try await rig.store.agent(id: rig.agentId))
        #expect(stored.epoch == newer.epoch && stored.disconnectedAt == nil && AgentViews.storedConnected(stored))
        #expect(AgentViews.storedStatus(of: stored, now: Date(), deadline: 45, flushInterval: 30) != .offline)
    }

    @Test("each node's fleet summary counts the agents connected to the other, from stored liveness")
    func fleetSummaryCountsTheCluster() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        _ = try await rig.connectToB()
        let settings = ServerSettings()
        let coreA = ServerCore(store: rig.store, registry: rig.a.registry, commands: rig.a.commands, feed: rig.a.feed, settings: settings,
                               enrollTrust: nil, logger: Fixture.quietLogger)
        // Connected to B, its downlink not yet proven: degraded, as its own status says on A.
        var summary = try await coreA.fleetSummary(now: Date())
        #expect(summary.enrolled == 1 && summary.online == 0 && summary.degraded == 1 && summary.offline == 0)
        let session = try #require(await rig.b.registry.existingSession(for: rig.agentId))
        let epoch = try #require(session.liveEpoch.value)
        try await rig.store.saveLiveness(agentId: rig.agentId, AgentLiveness(lastSeenAt: Date(), lastDownlinkAt: Date(), epoch: epoch))
        summary = try await coreA.fleetSummary(now: Date())
        #expect(summary.online == 1 && summary.degraded == 0 && summary.offline == 0)
        // Seen longer ago than one heartbeat deadline plus one flush interval: offline.
        let later = Date().addingTimeInterval(AgentConfig.defaults.heartbeatDeadline + settings.livenessFlushInterval + 1)
        summary = try await coreA.fleetSummary(now: later)
        #expect(summary.online == 0 && summary.degraded == 0 && summary.offline == 1)
    }

    @Test("revoke and superseded signals the store does not bear out (anyone who can connect can NOTIFY) change nothing")
    func forgedSignalsAreCheckedAgainstTheStore() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        await rig.a.registry.signals.publish(.revoke(agentId: rig.agentId))
        await rig.a.registry.signals.publish(.superseded(agentId: rig.agentId, epoch: 1_000_000))
        // Signals are applied in order: once work published after them arrives, they were applied.
        let id = try await rig.run(on: rig.a)
        #expect(try await eventually { try await b.commandIds() == [id] })
        #expect(try await b.closeCode() == nil)
        #expect(await rig.b.registry.connectedSession(for: rig.agentId) != nil)
    }

    @Test("the superseded signal closes the older connection on the other node at once")
    func supersededSignal() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let b = try await rig.connectToB()
        _ = try await rig.a.connect(rig.agentId, store: rig.store)
        #expect(try await eventually { try await b.closeCode() == CloseCode.superseded.rawValue })
        #expect(await rig.b.registry.connectedSession(for: rig.agentId) == nil)
        #expect(await rig.a.registry.connectedSession(for: rig.agentId) != nil)
    }

    @Test("a change on node B wakes node A's long-polls")
    func longPollsWake() async throws {
        let rig = try await Rig.make()
        defer { rig.stop() }
        let seen = rig.a.feed.current
        rig.b.feed.bump()
        #expect(await eventually { rig.a.feed.current > seen })
        // Woken from elsewhere, A does not echo it back.
        #expect(!rig.a.signals.published.withLock { $0 }.contains(.batchChanged(batchId: nil)))
    }
}
