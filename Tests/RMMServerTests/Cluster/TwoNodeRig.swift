import Foundation
import RMMProtocol
import RMMStore
import Synchronization
@testable import RMMServer

/// An in-process stand-in for PostgreSQL's LISTEN/NOTIFY: every node's signals reach every
/// other node, through the payload codec as they would on the wire.
final class SignalHub: Sendable {
    private let members = Mutex<[String: AsyncStream<ClusterSignal>.Continuation]>([:])

    func join(_ node: String) -> AsyncStream<ClusterSignal> {
        let (stream, continuation) = AsyncStream<ClusterSignal>.makeStream()
        members.withLock { $0[node] = continuation }
        return stream
    }

    func send(_ payload: String) {
        guard case .success(let decoded) = ClusterSignalCodec.decode(payload) else { return }
        for (node, member) in members.withLock({ $0 }) where node != decoded.node { member.yield(decoded.signal) }
    }
}

/// One node's signals on a `SignalHub`.
final class HubSignals: ClusterSignals {
    let hub: SignalHub
    let node: String
    private let stream: AsyncStream<ClusterSignal>
    /// Signals published, in order (what the node told the others).
    let published = Mutex<[ClusterSignal]>([])

    init(hub: SignalHub, node: String) {
        self.hub = hub
        self.node = node
        stream = hub.join(node)
    }

    var crossesNodes: Bool { true }

    func publish(_ signal: ClusterSignal) async {
        published.withLock { $0.append(signal) }
        if let payload = ClusterSignalCodec.encode(signal, node: node) { hub.send(payload) }
    }

    func incoming() -> AsyncStream<ClusterSignal> { stream }

    func run() async {}
}

/// A server node's parts over a store shared with other nodes: its registry, command service
/// and relay, with the relay applying the hub's signals (and no periodic sweep: tests sweep by hand).
struct TestNode {
    let registry: SessionRegistry
    let commands: CommandService
    let relay: ClusterRelay
    let feed: ChangeFeed
    let signals: HubSignals
    let task: Task<Void, Never>

    static func make(_ name: String, store: SQLiteStore, hub: SignalHub, settings: ServerSettings = ServerSettings()) -> TestNode {
        let feed = ChangeFeed()
        let signals = HubSignals(hub: hub, node: name)
        let registry = SessionRegistry(store: store, feed: feed, settings: settings, config: .defaults, signer: Fixture.signer,
                                       logger: Fixture.quietLogger, signals: signals)
        let commands = CommandService(store: store, registry: registry, feed: feed, settings: settings, logger: Fixture.quietLogger)
        let relay = ClusterRelay(registry: registry, store: store, feed: feed, logger: Fixture.quietLogger)
        ClusterFeedBridge(signals: signals).attach(to: feed)
        let task = Task { await relay.run(signals: signals, sweepInterval: 3_600) }
        return TestNode(registry: registry, commands: commands, relay: relay, feed: feed, signals: signals, task: task)
    }

    /// Records the agent's connect in the store (a new epoch) and attaches it to this node on a test link.
    func connect(_ agentId: String, store: SQLiteStore) async throws -> (link: TestLink, epoch: Int) {
        let record = try await store.recordConnect(agentId: agentId, facts: Fixture.facts("web-1"), now: Date())
        let link = try await TestLink.make()
        await registry.session(for: agentId).attach(link: link.link, epoch: record.epoch, agentStream: "as", peerSaw: nil, now: Date())
        await registry.signals.publish(.superseded(agentId: agentId, epoch: record.epoch))
        return (link, record.epoch)
    }
}

/// Waits until `condition` holds, checking every few milliseconds, for at most `seconds`.
func eventually(_ seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return try await condition()
}

/// Everything written on a link, collected across drains.
actor LinkLog {
    let link: TestLink
    private(set) var written: [Written] = []

    init(_ link: TestLink) { self.link = link }

    /// Drains the link and returns everything written so far.
    func all() async throws -> [Written] {
        written += try await link.drain()
        return written
    }

    func commandIds() async throws -> [String] {
        try await all().compactMap(\.envelope).commands.map(\.spec.commandId)
    }

    /// The command ids of the cancels written, in order.
    func cancelIds() async throws -> [String] {
        try await all().compactMap { item in
            if case .message(let envelope) = item, case .cancel(let cancel) = envelope.message { return cancel.commandId }
            return nil
        }
    }

    func closeCode() async throws -> UInt16? {
        for item in try await all() { if case .close(let code, _) = item { return code } }
        return nil
    }
}
