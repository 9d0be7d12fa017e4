import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Per-address accounting on the agent port, shared by every event loop and the handshakes:
/// how many connections an address holds before its agents authenticate (and all addresses
/// together), and how many authentications failed from it within the last minute.
///
/// Addresses are the keys `AddressLimiter.key(for:)` makes: an IPv4 address, or an IPv6 /64
/// (one site; a host there picks new addresses from its /64 at will). Time is passed in, so the
/// logic can be tested without waiting.
final class AddressLimiter: Sendable {
    /// An address that reached the failure limit within the window, and when it may retry.
    struct Block: Sendable, Equatable {
        var address: String
        var failures: Int
        /// Whole seconds (at least 1) until the oldest counted failure leaves the window.
        var retryAfterSeconds: Int

        /// The close reason an agent sees (fits the 123 bytes a close frame carries).
        var reason: String {
            "too many failed authentications from \(address) (\(failures) in the last minute); retry in \(retryAfterSeconds) s"
        }
    }

    /// Why `admission(_:)` refused a connection.
    enum Refusal: Error, Sendable, Equatable {
        /// The address already holds `maxUnauthenticated` connections.
        case address
        /// All addresses together hold `maxUnauthenticatedTotal` connections.
        case total
    }

    private struct State {
        var unauthenticated: [String: Int] = [:]
        /// The sum of `unauthenticated`.
        var total = 0
        /// The latest failures of each address, oldest first, at most `maxFailures` of them.
        var failures: [String: [ContinuousClock.Instant]] = [:]
        /// `failures` is swept of addresses with nothing left in the window when it grows this large.
        var sweepAt = 1024
    }

    let maxUnauthenticated: Int
    /// Unauthenticated connections all addresses together may hold.
    let maxUnauthenticatedTotal: Int
    let maxFailures: Int
    let window: Duration
    private let state = NIOLockedValueBox(State())

    init(maxUnauthenticated: Int, maxFailures: Int, maxUnauthenticatedTotal: Int = Int.max, window: Duration = .seconds(60)) {
        self.maxUnauthenticated = max(1, maxUnauthenticated)
        self.maxUnauthenticatedTotal = max(1, maxUnauthenticatedTotal)
        self.maxFailures = max(1, maxFailures)
        self.window = window
    }

    convenience init(settings: ServerSettings) {
        self.init(maxUnauthenticated: settings.maxUnauthenticatedPerAddress, maxFailures: settings.maxFailedAuthPerAddressPerMinute,
                  maxUnauthenticatedTotal: settings.maxUnauthenticated)
    }

    // MARK: unauthenticated connections

    /// Counts a new connection from `address`, or says which limit it would pass. A trusted
    /// proxy's connection (`asProxy`) is counted under its address only until its request's
    /// headers name the client (`transfer`), and only the total limit applies to it: a proxy
    /// carries many clients' connections at once, nginx reads a whole request head before it
    /// connects upstream (a slow client never holds a slot through it), and the total limit is
    /// the most a proxy, like any set of clients, can make the server hold.
    func admission(_ address: String, asProxy: Bool = false) -> Result<ConnectionSlot, Refusal> {
        let refusal = state.withLockedValue { state -> Refusal? in
            let held = state.unauthenticated[address, default: 0]
            guard held < maxUnauthenticated || asProxy else { return .address }
            guard state.total < maxUnauthenticatedTotal else { return .total }
            state.unauthenticated[address] = held + 1
            state.total += 1
            return nil
        }
        if let refusal { return .failure(refusal) }
        return .success(ConnectionSlot(address: address, limiter: self))
    }

    /// Moves a connection counted under `slot`'s address to `address` (a trusted proxy's client),
    /// or says that `address` already holds its limit; the total is unchanged. `slot` is no longer
    /// held once moved; the returned slot is.
    func transfer(_ slot: ConnectionSlot, to address: String) -> Result<ConnectionSlot, Refusal> {
        let moved = state.withLockedValue { state -> Bool in
            guard state.unauthenticated[address, default: 0] < maxUnauthenticated else { return false }
            guard slot.takeForTransfer() else { return false }
            let held = state.unauthenticated[slot.address, default: 0] - 1
            state.unauthenticated[slot.address] = held > 0 ? held : nil
            state.unauthenticated[address, default: 0] += 1
            return true
        }
        if moved { return .success(ConnectionSlot(address: address, limiter: self)) }
        return slot.isHeld ? .failure(.address) : admission(address)
    }

    /// Counts a new connection from `address`; nil when either limit is reached.
    func admit(_ address: String) -> ConnectionSlot? {
        try? admission(address).get()
    }

    /// Connections `address` holds now that have not authenticated.
    func unauthenticatedCount(_ address: String) -> Int {
        state.withLockedValue { $0.unauthenticated[address, default: 0] }
    }

    /// Connections all addresses hold now that have not authenticated.
    var unauthenticatedTotal: Int {
        state.withLockedValue { $0.total }
    }

    /// Only `ConnectionSlot.release()` calls this, once per admitted connection.
    fileprivate func release(_ address: String) {
        state.withLockedValue { state in
            let held = state.unauthenticated[address, default: 0] - 1
            state.unauthenticated[address] = held > 0 ? held : nil
            state.total = max(0, state.total - 1)
        }
    }

    // MARK: failed authentications

    /// Records one failed authentication from `address`. Returns true when this one reached the
    /// limit, so the caller can log that once rather than for every refused connection after it.
    @discardableResult
    func recordFailure(_ address: String, now: ContinuousClock.Instant) -> Bool {
        state.withLockedValue { state in
            if state.failures.count >= state.sweepAt {
                state.failures = state.failures.filter { _, times in times.last.map { now - $0 < window } ?? false }
                state.sweepAt = max(1024, state.failures.count * 2)
            }
            var times = state.failures[address, default: []]
            times.removeAll { now - $0 >= window }
            times.append(now)
            if times.count > maxFailures { times.removeFirst(times.count - maxFailures) }
            state.failures[address] = times
            return times.count == maxFailures
        }
    }

    /// Addresses whose failures are still kept (swept as the map grows); memory is bounded by it.
    var trackedFailureAddresses: Int {
        state.withLockedValue { $0.failures.count }
    }

    /// The block on `address` if it reached the failure limit within the window before `now`.
    func block(for address: String, now: ContinuousClock.Instant) -> Block? {
        state.withLockedValue { state in
            // Kept sorted and cut to `maxFailures`: at the limit exactly when the oldest kept is recent.
            guard let times = state.failures[address], times.count >= maxFailures, let oldest = times.first else { return nil }
            let remaining = oldest + window - now
            guard remaining > .zero else { return nil }
            let seconds = max(1, Int((remaining / .seconds(1)).rounded(.up)))
            return Block(address: address, failures: times.count, retryAfterSeconds: seconds)
        }
    }

    // MARK: keys

    /// The key an address is counted under: IPv4 as is (also when mapped into IPv6), IPv6 by /64.
    static func key(for address: SocketAddress?) -> String {
        switch address {
        case .v4?:
            return address?.ipAddress ?? "unknown"
        case .v6(let v6)?:
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
                return bytes[12...].map(String.init).joined(separator: ".")
            }
            let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return groups.joined(separator: ":") + "::/64"
        case .unixDomainSocket?:
            return "unix"
        case nil:
            return "unknown"
        }
    }
}

/// One connection's place in its address's count of unauthenticated connections. `release()`
/// gives it back exactly once, whoever calls first: the handshake when the agent authenticates,
/// or the connection guard when the connection closes.
final class ConnectionSlot: Sendable {
    /// The key the connection is counted under (`AddressLimiter.key(for:)`).
    let address: String
    private let limiter: AddressLimiter
    private let held = NIOLockedValueBox(true)

    fileprivate init(address: String, limiter: AddressLimiter) {
        self.address = address
        self.limiter = limiter
    }

    var isHeld: Bool { held.withLockedValue { $0 } }

    /// Gives up the slot without releasing its count, which `AddressLimiter.transfer` moves under
    /// its lock. False when it was already released.
    fileprivate func takeForTransfer() -> Bool {
        held.withLockedValue { held in
            defer { held = false }
            return held
        }
    }

    func release() {
        let wasHeld = held.withLockedValue { held in
            defer { held = false }
            return held
        }
        if wasHeld { limiter.release(address) }
    }
}
