import Foundation
import RMMProtocol
import RMMTestSupport
import Synchronization
import Testing
@testable import RMMTransport

/// What a push consumer saw, and whether two events were ever handled at once.
private actor Recorder {
    private(set) var seen: [String] = []
    private(set) var overlapped = false
    private var active = 0

    func handle(_ event: LinkEvent) async {
        active += 1
        if active > 1 { overlapped = true }
        // Give a second delivery every chance to start while this one is still running.
        await Task.yield()
        seen.append(Self.describe(event))
        active -= 1
    }

    static func describe(_ event: LinkEvent?) -> String {
        switch event {
        case .message(let envelope)?:
            if case .heartbeat(let beat) = envelope.message { return "h\(beat.id)" }
            return envelope.message.type
        case .messages(let envelopes)?: return "batch of \(envelopes.count)"
        case .closed(let closure)?: return "closed \(closure.reason)"
        case nil: return "end"
        }
    }
}

/// Counts its own deinit, to show that the inbox lets go of what its consumer captured.
private final class Captured: Sendable {
    let released: ManagedCounter
    init(released: ManagedCounter) { self.released = released }
    deinit { released.increment() }
}

/// A thread-safe counter for the deinit check.
private final class ManagedCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .sequentiallyConsistent) }
    var value: Int { count.load(ordering: .sequentiallyConsistent) }
}

private func heartbeat(_ id: Int) -> LinkEvent {
    .message(Envelope(.heartbeat(Heartbeat(id: id, echo: nil, time: 0))))
}

@Suite("Link inbox")
struct LinkInboxTests {
    @Test("pulled events come in order, before and after they are waited for, then the end")
    func pullInOrder() async {
        let inbox = LinkInbox()
        inbox.yield(heartbeat(1))
        let events = LinkEvents(inbox: inbox)
        var iterator = events.makeAsyncIterator()
        #expect(Recorder.describe(await iterator.next()) == "h1")
        let waiting = Task { await inbox.next() }
        inbox.yield(heartbeat(2))
        #expect(Recorder.describe(await waiting.value) == "h2")
        inbox.yield(.closed(LinkClosure(code: nil, reason: "lost", byPeer: true)))
        inbox.finish()
        inbox.yield(heartbeat(3))
        // A new iterator continues where the last one stopped.
        var second = events.makeAsyncIterator()
        #expect(Recorder.describe(await second.next()) == "closed lost")
        #expect(await second.next() == nil)
    }

    @Test("cancelling a waiting pull ends the sequence, as AsyncStream does")
    func cancelledPull() async {
        let inbox = LinkInbox()
        let waiting = Task { await inbox.next() }
        waiting.cancel()
        #expect(await waiting.value == nil)
        inbox.yield(heartbeat(1))
        #expect(await inbox.next() == nil)
    }

    @Test("push mode hands over what was buffered and everything later, in order and one at a time")
    func pushInOrder() async throws {
        let inbox = LinkInbox()
        inbox.yield(heartbeat(1))
        inbox.yield(heartbeat(2))
        #expect(Recorder.describe(await inbox.next()) == "h1")
        let recorder = Recorder()
        inbox.deliver { await recorder.handle($0) }
        for id in 3...50 { inbox.yield(heartbeat(id)) }
        inbox.yield(.closed(LinkClosure(code: 1000, reason: "bye", byPeer: true)))
        inbox.finish()
        try await waitUntil("every event delivered") { await recorder.seen.count == 50 }
        #expect(await recorder.seen == (2...50).map { "h\($0)" } + ["closed bye"])
        #expect(await !recorder.overlapped)
        // Push mode has no puller.
        #expect(await inbox.next() == nil)
    }

    @Test("push mode lets go of its consumer once the close was delivered")
    func pushReleasesConsumer() async throws {
        let inbox = LinkInbox()
        let released = ManagedCounter()
        let delivered = ManagedCounter()
        do {
            let captured = Captured(released: released)
            inbox.deliver { _ in
                _ = captured
                delivered.increment()
            }
        }
        inbox.yield(heartbeat(1))
        #expect(released.value == 0, "the consumer is kept while the link is open")
        inbox.yield(.closed(LinkClosure(code: nil, reason: "lost", byPeer: true)))
        inbox.finish()
        try await waitUntil("the consumer released") { released.value == 1 }
        #expect(delivered.value == 2)
    }

    @Test("push mode on a link that already ended still delivers the close")
    func pushAfterFinish() async throws {
        let inbox = LinkInbox()
        inbox.yield(.closed(LinkClosure(code: nil, reason: "lost", byPeer: true)))
        inbox.finish()
        let recorder = Recorder()
        inbox.deliver { await recorder.handle($0) }
        try await waitUntil("the close delivered") { await recorder.seen == ["closed lost"] }
    }
}
