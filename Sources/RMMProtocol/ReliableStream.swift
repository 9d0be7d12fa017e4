/// The sending half of one direction of a session: numbers reliable messages and keeps them until
/// the peer's cumulative ack covers them. Pure state; the owner decides when to (re)send.
public struct ReliableOutbox<Item: Sendable>: Sendable {
    /// Identifies this outbox; a peer that knows another id has to be sent everything again.
    public let stream: String
    public private(set) var lastSeq: Int = 0
    public private(set) var acked: Int = 0
    private var pending: [(seq: Int, item: Item)] = []

    public init(stream: String) {
        self.stream = stream
    }

    /// Numbers an item and keeps it until acknowledged.
    public mutating func append(_ item: Item) -> Int {
        lastSeq += 1
        pending.append((lastSeq, item))
        return lastSeq
    }

    /// Drops everything the peer acknowledged (cumulative). Returns false, and changes nothing, for
    /// an ack beyond what was ever sent: no honest peer sends one, and taking it would drop items
    /// that were never delivered (the caller closes the connection).
    @discardableResult
    public mutating func acknowledge(through seq: Int) -> Bool {
        guard seq <= lastSeq else { return false }
        guard seq > acked else { return true }
        acked = seq
        pending.removeAll { $0.seq <= acked }
        return true
    }

    /// Applies the peer's view after a (re)connect: if it tracks this stream, its position is an
    /// ack. Returns false for a position beyond what was ever sent (see `acknowledge`).
    @discardableResult
    public mutating func resume(peerSaw position: StreamPosition?) -> Bool {
        guard let position, position.stream == stream else { return true }
        return acknowledge(through: position.seq)
    }

    /// Removes items that no longer need delivery (e.g. an expired command); returns how many.
    @discardableResult
    public mutating func remove(where shouldRemove: (Item) -> Bool) -> Int {
        let before = pending.count
        pending.removeAll { shouldRemove($0.item) }
        return before - pending.count
    }

    /// Everything not yet acknowledged, oldest first.
    public var unacknowledged: [(seq: Int, item: Item)] { pending }
}

/// The receiving half of one direction: detects duplicates and knows what to acknowledge.
public struct ReliableInbox: Sendable, Equatable {
    public private(set) var stream: String?
    public private(set) var lastSeq: Int = 0

    public init() {}

    /// What to tell the peer on (re)connect.
    public var position: StreamPosition? { stream.map { StreamPosition(stream: $0, seq: lastSeq) } }

    /// The peer announced its stream; a new stream id means the peer restarted and numbers from 1 again.
    public mutating func peerStream(_ id: String) {
        if stream != id {
            stream = id
            lastSeq = 0
        }
    }

    /// True if `seq` is new and should be handled; false for a duplicate. Gaps are allowed: a sender
    /// may drop items it no longer needs delivered, and always resends the rest in order.
    public func isNew(_ seq: Int) -> Bool { seq > lastSeq }

    /// Records that `seq` was handled (call only after its effect is durable).
    public mutating func handled(_ seq: Int) {
        if seq > lastSeq { lastSeq = seq }
    }
}
