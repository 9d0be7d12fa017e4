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
        /// Facts by key: the connection id, or a local key for attempts that never got one (TLS).
        var facts: [String: HandshakeFact] = [:]
        /// Keys oldest first (each written once, so this is also least recently used).
        var order: [String] = []
        /// Keys per address, oldest first.
        var byAddress: [String: [String]] = [:]
        var nextLocalKey = 0
    }

    private let state = NIOLockedValueBox(State())
    /// Attempts kept in all.
    let capacity: Int
    /// Attempts kept per address: one address cannot push everybody else's evidence out.
    let perAddress: Int

    init(capacity: Int = 4096, perAddress: Int = 32) {
        self.capacity = max(1, capacity)
        self.perAddress = max(1, perAddress)
    }

    /// Keeps what a failed attempt showed.
    func note(_ fact: HandshakeFact) {
        state.withLockedValue { s in
            let key: String
            if let id = fact.connectionId {
                key = id
            } else {
                s.nextLocalKey += 1
                key = "local-\(s.nextLocalKey)"
            }
            if s.facts[key] != nil { return }
            s.facts[key] = fact
            s.order.append(key)
            s.byAddress[fact.address, default: []].append(key)
            if let keys = s.byAddress[fact.address], keys.count > perAddress, let oldest = keys.first { Self.remove(oldest, &s) }
            while s.order.count > capacity, let oldest = s.order.first { Self.remove(oldest, &s) }
        }
    }

    /// The attempt with this connection id, taken out of the book (so it is attributed once, to
    /// the first authenticated agent that names it); nil when the book does not hold it.
    func claim(connectionId: String) -> HandshakeFact? {
        state.withLockedValue { s in
            guard let fact = s.facts[connectionId], fact.connectionId == connectionId else { return nil }
            Self.remove(connectionId, &s)
            return fact
        }
    }

    /// Attempts no agent has claimed, by address, each address's newest first.
    func unattributed() -> [(address: String, facts: [HandshakeFact])] {
        state.withLockedValue { s in
            s.byAddress.map { address, keys in (address, keys.reversed().compactMap { s.facts[$0] }) }
                .sorted { ($0.facts.first?.closedAt ?? 0) > ($1.facts.first?.closedAt ?? 0) }
        }
    }

    var count: Int { state.withLockedValue { $0.facts.count } }

    private static func remove(_ key: String, _ s: inout State) {
        guard let fact = s.facts.removeValue(forKey: key) else { return }
        s.order.removeAll { $0 == key }
        s.byAddress[fact.address]?.removeAll { $0 == key }
        if s.byAddress[fact.address]?.isEmpty == true { s.byAddress[fact.address] = nil }
    }
}
