import Foundation
import Testing
@testable import RMMProtocol

@Suite("ReliableOutbox and ReliableInbox")
struct ReliableStreamTests {
    @Test("outbox numbers items from 1 and keeps them in order")
    func numbering() {
        var box = ReliableOutbox<String>(stream: "s1")
        #expect(box.lastSeq == 0 && box.acked == 0 && box.unacknowledged.isEmpty)
        #expect(box.append("a") == 1)
        #expect(box.append("b") == 2)
        #expect(box.append("c") == 3)
        #expect(box.unacknowledged.map(\.seq) == [1, 2, 3])
        #expect(box.unacknowledged.map(\.item) == ["a", "b", "c"])
    }

    @Test("cumulative ack drops covered items; old acks are harmless; an ack beyond what was sent is refused and changes nothing")
    func cumulativeAck() {
        var box = ReliableOutbox<String>(stream: "s1")
        for item in ["a", "b", "c", "d"] { _ = box.append(item) }
        #expect(taken(box.acknowledge(through: 2)))
        #expect(box.acked == 2)
        #expect(box.unacknowledged.map(\.seq) == [3, 4])
        #expect(taken(box.acknowledge(through: 1)))  // stale
        #expect(box.acked == 2)
        #expect(box.unacknowledged.map(\.seq) == [3, 4])
        #expect(taken(box.acknowledge(through: 0)))
        #expect(box.acked == 2)
        // Beyond what was sent: taking it would drop items the peer never received.
        #expect(!taken(box.acknowledge(through: 99)))
        #expect(box.acked == 2)
        #expect(box.unacknowledged.map(\.seq) == [3, 4])
        #expect(taken(box.acknowledge(through: 4)))
        #expect(box.unacknowledged.isEmpty)
        #expect(box.append("e") == 5)
        #expect(!taken(box.acknowledge(through: 1 << 62)))
        #expect(box.acked == 4)
        #expect(box.append("f") == 6)
        #expect(box.unacknowledged.map(\.item) == ["e", "f"])
        #expect(!taken(box.resume(peerSaw: StreamPosition(stream: "s1", seq: 7))))
        #expect(box.unacknowledged.map(\.item) == ["e", "f"])
    }

    @Test("resume with the matching stream id acts as an ack; a foreign or missing one does nothing")
    func resume() {
        var box = ReliableOutbox<Int>(stream: "mine")
        for i in 1...5 { _ = box.append(i) }
        box.resume(peerSaw: nil)
        #expect(box.unacknowledged.count == 5)
        box.resume(peerSaw: StreamPosition(stream: "someone-else", seq: 4))
        #expect(box.acked == 0)
        #expect(box.unacknowledged.count == 5)
        box.resume(peerSaw: StreamPosition(stream: "mine", seq: 3))
        #expect(box.acked == 3)
        #expect(box.unacknowledged.map(\.seq) == [4, 5])
        box.resume(peerSaw: StreamPosition(stream: "mine", seq: 1))  // older position never un-acks
        #expect(box.acked == 3)
        #expect(box.unacknowledged.map(\.seq) == [4, 5])
    }

    @Test("remove(where:) drops matching items, keeps order and numbering")
    func removeWhere() {
        var box = ReliableOutbox<String>(stream: "s")
        for item in ["keep1", "drop", "keep2", "drop"] { _ = box.append(item) }
        #expect(box.remove { $0 == "drop" } == 2)
        #expect(box.unacknowledged.map(\.seq) == [1, 3])
        #expect(box.unacknowledged.map(\.item) == ["keep1", "keep2"])
        #expect(box.remove { $0 == "nothing" } == 0)
        #expect(box.append("next") == 5)
        box.acknowledge(through: 3)
        #expect(box.unacknowledged.map(\.item) == ["next"])
    }

    @Test("inbox detects duplicates, tolerates gaps, never goes back")
    func inboxDuplicates() {
        var inbox = ReliableInbox()
        #expect(inbox.position == nil)
        inbox.peerStream("agent-1")
        #expect(inbox.position == StreamPosition(stream: "agent-1", seq: 0))
        #expect(inbox.isNew(1))
        inbox.handled(1)
        #expect(!inbox.isNew(1))
        #expect(inbox.isNew(2))
        inbox.handled(4)  // gap: the sender dropped 2 and 3
        #expect(!inbox.isNew(2) && !inbox.isNew(3) && !inbox.isNew(4))
        #expect(inbox.isNew(5))
        inbox.handled(2)
        #expect(inbox.lastSeq == 4)
        #expect(inbox.position == StreamPosition(stream: "agent-1", seq: 4))
    }

    @Test("inbox resets only when the peer announces a different stream")
    func inboxPeerStream() {
        var inbox = ReliableInbox()
        inbox.peerStream("a")
        inbox.handled(7)
        inbox.peerStream("a")  // same stream after a reconnect: keeps its place
        #expect(inbox.lastSeq == 7)
        #expect(!inbox.isNew(7))
        inbox.peerStream("b")  // the peer restarted: numbering starts over
        #expect(inbox.lastSeq == 0)
        #expect(inbox.isNew(1))
        #expect(inbox.position == StreamPosition(stream: "b", seq: 0))
    }
}

@Suite("CommandState")
struct CommandStateTests {
    /// The lifecycle graph of docs/architecture.md ("Command lifecycle"), written out independently of the implementation.
    static let allowed: [CommandState: Set<CommandState>] = {
        let terminal: Set<CommandState> = [.succeeded, .failed, .timedOut, .cancelled, .expired, .interrupted, .rejected]
        return [
            .queued: [.sent, .expired, .cancelled],
            .sent: terminal.union([.sent, .queued, .delivered, .running]),
            .delivered: terminal.union([.running]).subtracting([.expired]),
            .running: terminal.subtracting([.expired, .rejected]),
        ]
    }()

    @Test("terminal states")
    func terminal() {
        let terminal = CommandState.allCases.filter(\.isTerminal)
        #expect(Set(terminal) == [.succeeded, .failed, .timedOut, .cancelled, .expired, .interrupted, .rejected])
        #expect(CommandState.allCases.filter(\.isUndelivered) == [.queued, .sent])
        #expect(CommandState.timedOut.rawValue == "timed_out")
    }

    @Test("canMove matches the whole lifecycle graph", arguments: CommandState.allCases)
    func graph(from: CommandState) {
        for to in CommandState.allCases {
            let expected = Self.allowed[from]?.contains(to) ?? false
            #expect(from.canMove(to: to) == expected, "\(from.rawValue) → \(to.rawValue)")
        }
    }

    @Test("named rules")
    func namedRules() {
        for state in CommandState.allCases where state.isTerminal {
            #expect(CommandState.allCases.allSatisfy { !state.canMove(to: $0) }, "\(state) moved")
        }
        #expect(!CommandState.queued.canMove(to: .running))
        #expect(!CommandState.queued.canMove(to: .delivered))
        #expect(!CommandState.queued.canMove(to: .succeeded))
        #expect(CommandState.sent.canMove(to: .queued))
        #expect(CommandState.sent.canMove(to: .succeeded))  // ack and result arrive together after a resume
        #expect(!CommandState.running.canMove(to: .expired))
        #expect(!CommandState.running.canMove(to: .rejected))
        #expect(!CommandState.running.canMove(to: .queued))
        #expect(!CommandState.delivered.canMove(to: .expired))
        #expect(!CommandState.delivered.canMove(to: .sent))
        #expect(!CommandState.running.canMove(to: .running))
    }

    @Test("every non-terminal state can reach a terminal state")
    func everyStateEnds() {
        for start in CommandState.allCases where !start.isTerminal {
            var seen: Set<CommandState> = [start]
            var frontier = [start]
            while let s = frontier.popLast() {
                for next in CommandState.allCases where s.canMove(to: next) && seen.insert(next).inserted { frontier.append(next) }
            }
            #expect(seen.contains { $0.isTerminal }, "\(start)")
        }
    }
}

/// The outcome of a mutating call, for `#expect` (which cannot take a mutating call itself).
private func taken(_ outcome: Bool) -> Bool { outcome }
