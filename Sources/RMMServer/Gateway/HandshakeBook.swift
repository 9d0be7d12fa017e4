import Foundation
import NIOConcurrencyHelpers
import RMMProtocol

/// What failed connection attempts showed before authentication, kept in memory per connection id
/// and per address (bounded). Evidence here belongs to no agent until an authenticated agent's
/// link report names the attempt's connection id (`claim`): the id is random and was sent only to
/// that attempt's TCP peer, so naming it proves the attempt was that agent's. Address and any id
/// sent before authentication prove nothing and are never used to attribute.
final class HandshakeBook: Sendable {
    private struct State {
        /// Attempts that got a connection id: the only ones an agent can claim.
        var claimable: HandshakeShelf
        /// Attempts without one (TLS stage, 408): cheap to cause (a TCP open and close), so they
        /// have a budget of their own and can never push claimable evidence out.
        var anonymous: HandshakeShelf
        /// Increases with every note: the order across both shelves.
        var seq = 0
    }

    private let state: NIOLockedValueBox<State>

    init(capacity: Int = 4096, perAddress: Int = 32, anonymousCapacity: Int = 1024) {
        state = NIOLockedValueBox(State(claimable: HandshakeShelf(capacity: capacity, perAddress: perAddress),
                                        anonymous: HandshakeShelf(capacity: anonymousCapacity, perAddress: perAddress)))
    }

    /// Keeps what a failed attempt showed (O(1) amortized: this runs on an event loop).
    func note(_ fact: HandshakeFact) {
        state.withLockedValue { s in
            s.seq += 1
            if let id = fact.connectionId {
                s.claimable.note(fact, key: id, seq: s.seq)
            } else {
                s.anonymous.note(fact, key: "local-\(s.seq)", seq: s.seq)
            }
        }
    }

    /// The attempt with this connection id, taken out of the book (so it is attributed once, to
    /// the first authenticated agent that names it); nil when the book does not hold it.
    func claim(connectionId: String) -> HandshakeFact? {
        state.withLockedValue { s in s.claimable.take(connectionId) }
    }

    /// Puts back an attempt claimed by a caller that could not record it (no verdict, a failed
    /// store write), so the evidence is not lost; it goes in as the newest.
    func restore(_ fact: HandshakeFact) {
        guard fact.connectionId != nil else { return }
        note(fact)
    }

    /// Attempts no agent has claimed, by address, each address's newest first.
    func unattributed() -> [(address: String, facts: [HandshakeFact])] {
        state.withLockedValue { s in
            var merged = s.claimable.byAddressWithSeq()
            for (address, held) in s.anonymous.byAddressWithSeq() { merged[address, default: []].append(contentsOf: held) }
            return merged.map { address, held in (address, held.sorted { $0.seq > $1.seq }.map(\.fact)) }
                .sorted { ($0.facts.first?.closedAt ?? 0) > ($1.facts.first?.closedAt ?? 0) }
        }
    }

    var count: Int { state.withLockedValue { $0.claimable.count + $0.anonymous.count } }
}
