/// A link's received events in arrival order (see `LinkInbox`). Several iterators may be made one
/// after another and continue where the previous one stopped; only one may wait at a time.
/// Cancelling a waiting iterator ends the sequence, as with `AsyncStream`.
public struct LinkEvents: AsyncSequence, Sendable {
    public typealias Element = LinkEvent
    public typealias Failure = Never

    let inbox: LinkInbox

    public func makeAsyncIterator() -> Iterator {
        Iterator(inbox: inbox)
    }

    /// Pulls the next event from the link's inbox; a copy pulls from the same inbox.
    public struct Iterator: AsyncIteratorProtocol, Sendable {
        public typealias Element = LinkEvent
        public typealias Failure = Never

        let inbox: LinkInbox

        public mutating func next() async -> LinkEvent? {
            await inbox.next()
        }
    }
}
