import Crypto
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import RMMProtocol
import RMMStore
import Synchronization
import Testing
@testable import RMMServer
import RMMTransport

/// What the server wrote on one link, decoded.
enum Written: Equatable, CustomStringConvertible {
    case message(Envelope)
    case ping
    case close(code: UInt16?, reason: String)
    case other(WebSocketOpcode)

    var envelope: Envelope? {
        if case .message(let e) = self { return e }
        return nil
    }

    var description: String {
        switch self {
        case .message(let e): return "\(e.message.type)#\(e.seq.map(String.init) ?? "-")"
        case .ping: return "ping"
        case .close(let code, let reason): return "close(\(code.map(String.init) ?? "nil"), \(reason))"
        case .other(let op): return "\(op)"
        }
    }
}

/// A real `WebSocketLink` on a test channel, standing in for one agent connection.
///
/// `NIOAsyncTestingChannel` rather than `EmbeddedChannel`: `AgentSession` is an actor, so it calls the
/// link (and thus `eventLoop.execute`) from the cooperative pool, and `EmbeddedEventLoop` is not
/// thread-safe (NIO reports "API misuse" or traps when used off its creating thread). The testing
/// loop is thread-safe and, like the embedded one, runs nothing until the test calls `run()`.
struct TestLink {
    let channel: NIOAsyncTestingChannel
    let link: WebSocketLink

    static func make(port: Int = 50_000) async throws -> TestLink {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: port))
        let link = try await channel.testingEventLoop.executeInContext {
            try WebSocketLink.install(on: channel, isClient: false)
        }
        return TestLink(channel: channel, link: link)
    }

    /// Runs what the link queued on its loop and returns every frame written since the last call.
    func drain() async throws -> [Written] {
        await channel.testingEventLoop.run()
        let codec = WireCodec()
        var reassembler = Reassembler()
        var out: [Written] = []
        while let frame = try await channel.readOutbound(as: WebSocketFrame.self) {
            switch frame.opcode {
            case .text, .binary:
                var payload = frame.unmaskedData
                let data = Data(payload.readBytes(length: payload.readableBytes) ?? [])
                var envelope = try codec.decode(data)
                if case .chunk(let chunk) = envelope.message {
                    guard let whole = try reassembler.add(chunk) else { continue }
                    envelope = try codec.decode(whole)
                }
                out.append(.message(envelope))
            case .ping:
                out.append(.ping)
            case .connectionClose:
                var payload = frame.unmaskedData
                let code = payload.readInteger(as: UInt16.self)
                out.append(.close(code: code, reason: payload.readString(length: payload.readableBytes) ?? ""))
            default:
                out.append(.other(frame.opcode))
            }
        }
        return out
    }

    /// Only the decoded envelopes of `drain()`.
    func messages() async throws -> [Envelope] {
        try await drain().compactMap(\.envelope)
    }
}

extension Array where Element == Envelope {
    var commands: [(seq: Int, spec: CommandSpec)] {
        compactMap { e in
            if case .command(let spec) = e.message, let seq = e.seq { return (seq, spec) }
            return nil
        }
    }

    var welcome: Welcome? {
        for e in self { if case .welcome(let w) = e.message { return w } }
        return nil
    }
}

enum Fixture {
    static let t0 = Date(timeIntervalSince1970: 1_750_000_000)
    static func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    static let quietLogger = Logger(label: "rmm-server-tests") { _ in SwiftLogNoOpLogHandler() }

    static func facts(_ name: String) -> AgentFacts {
        AgentFacts(name: name, hostname: "\(name).example", os: "linux", version: "1.0.0")
    }

    /// An in-memory store with one enrolled agent.
    static func store(agents names: [String] = ["web-1"]) async throws -> (SQLiteStore, [AgentRecord]) {
        let store = try SQLiteStore.inMemory()
        _ = try await store.createEnrollmentToken(hash: "tok", expiresAt: nil, uses: 100, now: t0)
        var agents: [AgentRecord] = []
        for (i, name) in names.enumerated() {
            agents.append(try await store.enrollAgent(tokenHash: "tok", publicKey: "key-\(i)", facts: facts(name), now: t0))
        }
        return (store, agents)
    }

    static func command(_ id: String, agent: String, created: Double = 0, expires: Double = 600) -> CommandRecord {
        CommandRecord(
            id: id, agentId: agent, batchId: "b1", kind: .shell, text: "echo \(id)", interpreter: nil,
            timeoutSeconds: 30, createdAt: at(created), expiresAt: at(expires), updatedAt: at(created), createdBy: "ops"
        )
    }

    /// The server's signing key for these tests.
    static let signer = WorkSigner(key: Curve25519.Signing.PrivateKey())

    static func session(agentId: String, store: any SessionStore, settings: ServerSettings = ServerSettings(), feed: ChangeFeed = ChangeFeed()) -> AgentSession {
        AgentSession(agentId: agentId, store: store, feed: feed, settings: settings, config: .defaults, signer: signer, logger: quietLogger)
    }

    /// A store with one agent, that agent's session attached at `t0` (epoch 1) on a test link, and
    /// `commands` inserted and enqueued to it.
    static func attachedSession(commands: [String] = []) async throws -> (store: SQLiteStore, agentId: String, session: AgentSession, link: TestLink) {
        let (store, agents) = try await Fixture.store()
        let agentId = agents[0].id
        let session = Fixture.session(agentId: agentId, store: store)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: t0)
        if !commands.isEmpty { await session.enqueue(try await insert(commands, agent: agentId, into: store)) }
        return (store, agentId, session, link)
    }

    /// A session over a `FaultyStore` (failures on demand), attached on epoch 1 at `attachedAt`
    /// with its welcome already read off the link. Attach at `Date()` for a test of the store
    /// retries: the session stamps them with the wall clock.
    static func faultySession(feed: ChangeFeed = ChangeFeed(), attachedAt: Date = t0) async throws
        -> (base: SQLiteStore, store: FaultyStore, agentId: String, session: AgentSession, link: TestLink) {
        let (base, agents) = try await Fixture.store()
        let store = FaultyStore(base: base)
        let agentId = agents[0].id
        let session = Fixture.session(agentId: agentId, store: store, feed: feed)
        let link = try await TestLink.make()
        await session.attach(link: link.link, epoch: 1, agentStream: "as", peerSaw: nil, now: attachedAt)
        _ = try await link.drain()
        return (base, store, agentId, session, link)
    }

    /// Inserts commands and returns them.
    @discardableResult
    static func insert(_ ids: [String], agent: String, into store: any CommandStore) async throws -> [CommandRecord] {
        var records: [CommandRecord] = []
        for (i, id) in ids.enumerated() { records.append(command(id, agent: agent, created: Double(i))) }
        try await store.insertCommands(records)
        return records
    }
}

/// The store roles of an agent's session (`SessionStore`), forwarding to a real store and failing
/// chosen calls on demand (transient database errors).
final class FaultyStore: SessionStore {
    struct Injected: Error {}

    let base: SQLiteStore
    /// Number of upcoming moves to `sent` (`transition` or `markSent`) that fail.
    let failSentTransitions = Mutex(0)
    /// Number of upcoming `recordReports` calls (an agent's acks, output, results) that fail.
    let failReportWrites = Mutex(0)
    /// While set, `recordReports` and `markSent` fail as a database that is away does.
    let databaseAway = Mutex(false)
    /// Log of `transition(to: .sent)` attempts, in order.
    let sentAttempts = Mutex<[String]>([])
    /// The `StoreLane` each `markSent` call was made on, in order.
    let sentLanes = Mutex<[StoreLane]>([])
    /// Number of upcoming `recordVerdict` calls that fail.
    let failVerdictWrites = Mutex(0)
    /// Number of upcoming `recordVerdict` calls held (once written) until `releaseVerdicts`.
    let holdVerdicts = Mutex(0)
    /// The `recordVerdict` calls held now.
    let heldVerdicts = Mutex<[CheckedContinuation<Void, Never>]>([])

    /// Number of upcoming `recordReports` / `markSent` calls that hang (before writing) until
    /// `releaseHungWrites`: a database call that never returns.
    let hangReportWrites = Mutex(0)
    let hangSentMarks = Mutex(0)
    /// The calls hanging now.
    let hung = Mutex<[CheckedContinuation<Void, Never>]>([])
    /// Number of upcoming `recordReports` / `markSent` calls that take effect and then fail as
    /// `unavailable`: a write past its deadline, or whose COMMIT lost its answer, that committed.
    let commitThenFailReportWrites = Mutex(0)
    let commitThenFailSentMarks = Mutex(0)

    init(base: SQLiteStore) { self.base = base }

    /// Lets every hanging call go on.
    func releaseHungWrites() {
        for held in hung.withLock({ held in defer { held = [] }; return held }) { held.resume() }
    }

    private func hangIfPlanned(_ counter: borrowing Mutex<Int>) async {
        guard Self.take(counter) else { return }
        await withCheckedContinuation { held in hung.withLock { $0.append(held) } }
    }

    /// Lets every held `recordVerdict` call go on.
    func releaseVerdicts() {
        for held in heldVerdicts.withLock({ held in defer { held = [] }; return held }) { held.resume() }
    }

    /// Takes one of `counter`'s planned failures, if any is left.
    private static func take(_ counter: borrowing Mutex<Int>) -> Bool {
        counter.withLock { n -> Bool in
            if n > 0 { n -= 1; return true }
            return false
        }
    }

    // MARK: DeliveryStore

    func undeliveredCommands(agentId: String) async throws -> [CommandRecord] { try await base.undeliveredCommands(agentId: agentId) }
    func command(id: String) async throws -> CommandRecord? { try await base.command(id: id) }
    func transition(commandId: String, to state: CommandState, reason: String?, now: Date) async throws -> CommandRecord? {
        if state == .sent {
            sentAttempts.withLock { $0.append(commandId) }
            if Self.take(failSentTransitions) { throw Injected() }
        }
        return try await base.transition(commandId: commandId, to: state, reason: reason, now: now)
    }
    func recordReports(_ reports: [CommandReport], agentId: String, now: Date) async throws -> [ReportEffect] {
        await hangIfPlanned(hangReportWrites)
        if Self.take(failReportWrites) { throw Injected() }
        if databaseAway.withLock({ $0 }) { throw StoreError.unavailable("PostgreSQL at test has not answered") }
        let effects = try await base.recordReports(reports, agentId: agentId, now: now)
        if Self.take(commitThenFailReportWrites) { throw StoreError.unavailable("PostgreSQL did not answer within 10 s") }
        return effects
    }
    func appendOutput(commandId: String, stream: StdStream, offset: Int, data: Data, cap: Int) async throws -> Bool {
        try await base.appendOutput(commandId: commandId, stream: stream, offset: offset, data: data, cap: cap)
    }
    func finish(commandId: String, outcome: CommandOutcome, now: Date) async throws -> CommandRecord? {
        try await base.finish(commandId: commandId, outcome: outcome, now: now)
    }

    // MARK: SessionRouteStore

    /// Counted and failed as `transition(to: .sent)` is: it is the session's move to `sent`.
    func markSent(commandIds: [String], agentId: String, epoch: Int, reason: String?, now: Date) async throws -> SentMarking {
        sentAttempts.withLock { $0.append(contentsOf: commandIds) }
        sentLanes.withLock { $0.append(StoreLane.current) }
        await hangIfPlanned(hangSentMarks)
        if Self.take(failSentTransitions) { throw Injected() }
        if databaseAway.withLock({ $0 }) { throw StoreError.unavailable("PostgreSQL at test has not answered") }
        let marking = try await base.markSent(commandIds: commandIds, agentId: agentId, epoch: epoch, reason: reason, now: now)
        if Self.take(commitThenFailSentMarks) { throw StoreError.unavailable("PostgreSQL did not answer within 10 s") }
        return marking
    }
    func undeliveredCommandIds(agentIds: [String]) async throws -> [String: Set<String>] { try await base.undeliveredCommandIds(agentIds: agentIds) }
    func agentEpochs(agentIds: [String]) async throws -> [String: Int] { try await base.agentEpochs(agentIds: agentIds) }

    // MARK: LivenessStore

    func recordConnect(agentId: String, facts: AgentFacts, remote: String?, now: Date) async throws -> AgentRecord {
        try await base.recordConnect(agentId: agentId, facts: facts, remote: remote, now: now)
    }
    func saveLiveness(agentId: String, _ liveness: AgentLiveness) async throws { try await base.saveLiveness(agentId: agentId, liveness) }
    func saveLiveness(_ batch: [(agentId: String, liveness: AgentLiveness)]) async throws -> [String] { try await base.saveLiveness(batch) }
    func liveCounts(since: Date) async throws -> (online: Int, degraded: Int) { try await base.liveCounts(since: since) }

    // MARK: VerdictStore

    func recordVerdict(_ record: VerdictRecord, keep: Int) async throws -> VerdictRecord {
        let hold = Self.take(holdVerdicts)
        if Self.take(failVerdictWrites) { throw Injected() }
        let stored = try await base.recordVerdict(record, keep: keep)
        // Held after the write: the caller resumes late, after later writes (as under load).
        if hold { await withCheckedContinuation { held in heldVerdicts.withLock { $0.append(held) } } }
        return stored
    }
    func verdicts(agentId: String, limit: Int) async throws -> [VerdictRecord] { try await base.verdicts(agentId: agentId, limit: limit) }
    func latestVerdicts(agentIds: [String], only: LinkVerdict?) async throws -> [String: VerdictRecord] {
        try await base.latestVerdicts(agentIds: agentIds, only: only)
    }
    func noteDelay(commandIds: [String], note: String, once: String, now: Date) async throws -> [String] {
        try await base.noteDelay(commandIds: commandIds, note: note, once: once, now: now)
    }
    func saveLinkDiagnosis(agentId: String, _ json: Data) async throws { try await base.saveLinkDiagnosis(agentId: agentId, json) }
    func linkDiagnosis(agentId: String) async throws -> Data? { try await base.linkDiagnosis(agentId: agentId) }
    func linkDiagnoses(agentIds: [String]) async throws -> [String: Data] { try await base.linkDiagnoses(agentIds: agentIds) }

    // MARK: MetricHistoryStore

    /// Number of upcoming `saveMetricHistories` calls that fail.
    let failHistorySaves = Mutex(0)

    func saveMetricHistories(_ batch: [(agentId: String, history: Data)], now: Date) async throws {
        if Self.take(failHistorySaves) { throw Injected() }
        try await base.saveMetricHistories(batch, now: now)
    }
    func metricHistory(agentId: String) async throws -> Data? { try await base.metricHistory(agentId: agentId) }
}

extension AgentSession {
    /// `duties(now:)`'s liveness alone, for the tests of the schedule and the liveness flush.
    func wake(now: Date) async -> AgentLiveness? {
        await duties(now: now).liveness
    }

    /// One session's periodic duties as the server's ticker runs them: `wake(now:)`, then writing
    /// the liveness it hands back (the ticker writes many sessions' together).
    func tick(now: Date) async {
        guard let liveness = await wake(now: now) else { return }
        // As in the ticker, a failed write is not the session's failure (it writes again later).
        try? await store.saveLiveness(agentId: agentId, liveness)
    }
}
