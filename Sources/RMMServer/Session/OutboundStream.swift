import Foundation
import RMMProtocol
import RMMStore

/// The server → agent reliable stream of one session, as pure state: what is queued, what the
/// current connection has carried and when, what the agent acknowledged, and what goes out again
/// after a reconnect or an ack deadline. Its methods take `now` and return what the session must
/// do (`Delivery`, `AckOutcome`); the session performs the I/O and store writes and reports back.
///
/// The rules it keeps: items go out strictly in seq order, one pump at a time; a command is
/// recorded `sent` in the store before it is written (unless it was stored `sent` on this very
/// connection when it was created); an ack beyond the last seq sent is refused; everything not
/// acknowledged is written again on the next connection, or on this one past the ack deadline.
struct OutboundStream: Sendable {
    private(set) var outbox: ReliableOutbox<OutboundItem>
    /// The connection the stream is written to; nil while the agent is not connected.
    private(set) var epoch: Int?
    /// Highest seq written to the current connection (everything after it is the pump's to send).
    private(set) var sentThrough = 0
    /// When each unacknowledged seq was last written on the current connection, and its size.
    private(set) var writtenAt: [Int: Date] = [:] {
        // Sizes are only read for seqs still in `writtenAt`: prune them with it (they piled up with
        // every command sent), and let an emptied table go.
        didSet {
            if writtenAt.isEmpty { writtenAt = [:] }
            if writtenBytes.count > writtenAt.count {
                writtenBytes = writtenAt.isEmpty ? [:] : writtenBytes.filter { writtenAt[$0.key] != nil }
            }
        }
    }
    private(set) var writtenBytes: [Int: Int] = [:]
    /// Commands stored `sent` on a connection (epoch) when they were created (`CommandAdmission`).
    private var recordedSent: [String: Int] = [:]
    /// The agent is owed an ack for something it sent (it rides on the next heartbeat or item).
    private(set) var ackOwed = false
    /// The connection whose pump runs: a second pump for it would let a newer item overtake an
    /// older one awaiting the store. A pump belongs to one connection, so a pump stuck on a store
    /// call cannot keep the next connection from being pumped.
    private(set) var pumpingEpoch: Int?

    init(stream: String) {
        outbox = ReliableOutbox(stream: stream)
    }

    /// What the session does to put the next item on the wire of connection `epoch`.
    enum Delivery: Equatable {
        /// Sign it for `seq` and write it; no store write is needed first.
        case write(seq: Int, epoch: Int, OutboundItem)
        /// Record the command `sent` on `epoch` in the store first, then write it (`written`), or
        /// `dropped` if it ended meanwhile; on a store failure, stop (`endPump`) and retry later.
        case recordSent(seq: Int, epoch: Int, PendingCommand)
        /// The command holds a value this protocol refuses (stored by a release with looser ranges):
        /// the agent would close on its frame at every resend, so record it `rejected` saying
        /// `problem`, then `dropped`.
        case refuse(seq: Int, epoch: Int, commandId: String, problem: String)
    }

    /// What an ack from the agent did.
    enum AckOutcome: Equatable {
        /// Beyond the last seq sent: nothing changed; no honest agent sends it (close the connection).
        case beyondLastSent(lastSeq: Int)
        /// It acknowledged something new: the downlink is proven.
        case advanced
        /// Nothing new.
        case nothingNew
    }

    // MARK: connection

    /// Applies the agent's view at a (re)connect; false (nothing changes) for a position beyond
    /// the last seq sent: taking it as an ack would drop commands the agent never received.
    mutating func resume(peerSaw: StreamPosition?) -> Bool {
        outbox.resume(peerSaw: peerSaw)
    }

    /// A new connection of `epoch` carries the stream from now on: everything unacknowledged goes
    /// out on it again.
    mutating func connected(epoch: Int) {
        self.epoch = epoch
        sentThrough = outbox.acked
        writtenAt = [:]
    }

    /// The connection ended: nothing is written until the next one.
    mutating func disconnected() {
        epoch = nil
        writtenAt = [:]
    }

    // MARK: items

    /// Takes a command created for this agent (`admission` says how it was stored), unless the
    /// stream holds it already.
    mutating func add(_ record: CommandRecord, admission: CommandAdmission = .queued) {
        if case .sent(let epoch) = admission, record.state == .sent { recordedSent[record.id] = epoch }
        if !holds(commandId: record.id) { _ = outbox.append(.command(PendingCommand(record))) }
    }

    /// Whether a command is in the stream, not yet acknowledged.
    func holds(commandId: String) -> Bool {
        outbox.unacknowledged.contains { $0.item.commandId == commandId }
    }

    /// Replaces an undelivered command (if any) by a cancel for it.
    mutating func cancel(commandId: String, reason: String) {
        drop(commandId: commandId)
        _ = outbox.append(.cancel(Cancel(commandId: commandId, reason: reason)))
    }

    /// Appends a cancel (the agent took a command the server had already given up on).
    mutating func append(_ cancel: Cancel) {
        _ = outbox.append(.cancel(cancel))
    }

    /// Drops an undelivered command (it expired or was cancelled before delivery).
    mutating func drop(commandId: String) {
        outbox.remove { $0.commandId == commandId }
        recordedSent[commandId] = nil
    }

    /// Replaces any config not yet acknowledged by `config`.
    mutating func push(config: AgentConfig) {
        outbox.remove { if case .config = $0 { return true } else { return false } }
        _ = outbox.append(.config(config))
    }

    // MARK: pumping

    /// Claims the pump for the current connection, returning its epoch; nil without a connection,
    /// or if its pump runs already (that one sees every item added meanwhile).
    mutating func beginPump() -> Int? {
        guard let epoch, pumpingEpoch != epoch else { return nil }
        pumpingEpoch = epoch
        return epoch
    }

    /// Whether the pump of `epoch` may go on: its connection is still the current one.
    func pumps(epoch: Int) -> Bool {
        pumpingEpoch == epoch && self.epoch == epoch
    }

    /// The pump of `epoch` stopped: nothing left to send, no connection, or a store failure (the
    /// next wake pumps again).
    mutating func endPump(epoch: Int) {
        if pumpingEpoch == epoch { pumpingEpoch = nil }
    }

    /// The next item the current connection has not carried, and what to do for it; nil when
    /// there is none or no connection.
    mutating func nextDelivery() -> Delivery? {
        guard let epoch, let next = outbox.unacknowledged.first(where: { $0.seq > sentThrough }) else { return nil }
        guard case .command(let pending) = next.item else { return .write(seq: next.seq, epoch: epoch, next.item) }
        if let problem = pending.spec.rangeProblem() {
            return .refuse(seq: next.seq, epoch: epoch, commandId: pending.id, problem: problem)
        }
        // Stored `sent` on this very connection when it was created: nothing to write first. (A
        // cancel or expiry since then found it `sent` and took it out of the stream.)
        if recordedSent.removeValue(forKey: pending.id) == epoch {
            return .write(seq: next.seq, epoch: epoch, next.item)
        }
        return .recordSent(seq: next.seq, epoch: epoch, pending)
    }

    /// `seq` was written to the connection of `epoch` at `now` (`bytes` on the wire). Ignored if
    /// another connection took over meanwhile: it carries the item itself.
    mutating func written(seq: Int, epoch: Int, bytes: Int, now: Date) {
        guard self.epoch == epoch else { return }
        writtenAt[seq] = now
        writtenBytes[seq] = bytes
        ackOwed = false  // the item carries the ack
        sentThrough = max(sentThrough, seq)
    }

    /// The command at `seq` must not be sent any more (it ended meanwhile): out of the stream.
    mutating func dropped(seq: Int, epoch: Int) {
        guard self.epoch == epoch else { return }
        if let commandId = outbox.unacknowledged.first(where: { $0.seq == seq })?.item.commandId {
            outbox.remove { $0.commandId == commandId }
        }
        sentThrough = max(sentThrough, seq)
    }

    /// True when the current connection has items it has not carried yet.
    var hasUnsent: Bool {
        guard epoch != nil else { return false }
        return outbox.unacknowledged.contains { $0.seq > sentThrough }
    }

    // MARK: acks

    /// Calls `body` with when each command that `ack` acknowledges for the first time was last
    /// written on this connection (the sent → delivered latency); nothing when `ack` is not new.
    func commandWrites(newlyAcknowledgedBy ack: Int, _ body: (Date) -> Void) {
        guard ack > outbox.acked, !writtenAt.isEmpty else { return }
        for (seq, item) in outbox.unacknowledged {
            if seq > ack { break }  // oldest first
            if case .command = item, let at = writtenAt[seq] { body(at) }
        }
    }

    /// The agent acknowledged everything through `ack` at `now`.
    mutating func acknowledge(through ack: Int) -> AckOutcome {
        let before = outbox.acked
        guard outbox.acknowledge(through: ack) else { return .beyondLastSent(lastSeq: outbox.lastSeq) }
        guard outbox.acked > before else { return .nothingNew }
        let acked = outbox.acked
        if !writtenAt.isEmpty { writtenAt = writtenAt.filter { $0.key > acked } }
        return .advanced
    }

    /// The agent sent something reliable: it is owed an ack.
    mutating func oweAck() {
        ackOwed = true
    }

    /// A heartbeat went out: it carried the owed ack.
    mutating func ackSent() {
        ackOwed = false
    }

    // MARK: deadlines

    /// If the oldest unacknowledged item written on this connection has waited `ackDeadline` by
    /// `now`, rewinds so that everything unacknowledged is written again (harmless: the agent drops
    /// duplicates by seq; it rescues a message lost above TCP). Returns how many items that is.
    mutating func rewindIfOverdue(now: Date, ackDeadline: Double) -> Int? {
        guard let due = retransmitDue(ackDeadline: ackDeadline), now >= due else { return nil }
        let acked = outbox.acked
        writtenAt = writtenAt.filter { $0.key > acked }
        sentThrough = acked
        return outbox.unacknowledged.count
    }

    /// When the oldest unacknowledged item written on this connection is due again.
    func retransmitDue(ackDeadline: Double) -> Date? {
        guard epoch != nil, let oldest = outbox.unacknowledged.first, oldest.seq <= sentThrough,
              let written = writtenAt[oldest.seq] else { return nil }
        return written.addingTimeInterval(ackDeadline)
    }

    /// The first undelivered command written on this connection that has waited `ackDeadline` by `now`.
    func overdueCommand(now: Date, ackDeadline: Double) -> (id: String, age: Double)? {
        for item in outbox.unacknowledged {
            guard let id = item.item.commandId, let written = writtenAt[item.seq] else { continue }
            let age = now.timeIntervalSince(written)
            if age >= ackDeadline { return (id, age) }
        }
        return nil
    }

    /// When the longest-waiting unacknowledged command on this connection was written.
    var oldestCommandWrite: Date? {
        outbox.unacknowledged.lazy.compactMap { $0.item.commandId == nil ? nil : writtenAt[$0.seq] }.min()
    }

    /// The oldest unacknowledged item written on this connection: its size and when.
    var oldestUnackedWrite: (bytes: Int, at: Date)? {
        guard let oldest = outbox.unacknowledged.first(where: { writtenAt[$0.seq] != nil }),
              let at = writtenAt[oldest.seq] else { return nil }
        return (writtenBytes[oldest.seq] ?? 0, at)
    }

    // MARK: reading

    /// The stream's id, as the agent tracks it.
    var stream: String { outbox.stream }
    /// Highest seq the agent acknowledged.
    var acked: Int { outbox.acked }
    /// Highest seq ever numbered.
    var lastSeq: Int { outbox.lastSeq }
    /// How many items wait for an ack.
    var pendingCount: Int { outbox.unacknowledged.count }
    /// The ids of the commands waiting for an ack, oldest first.
    var pendingCommandIds: [String] { outbox.unacknowledged.compactMap { $0.item.commandId } }
}
