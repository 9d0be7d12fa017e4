import Foundation
import RMMProtocol
import RMMTransport

/// Which server node an agent (or a simulated one) connects to next: the `--server` URLs in their
/// order, then the nodes learned from welcomes. It stays with a node while the node works, moves
/// on after a failure to the node that failed longest ago (never-failed first; ties in list
/// order from a place of the agent's own, `spread`, so the agents of a lost node divide among
/// the others rather than all take the next in the list), and tries a node named by a draining
/// server's close hint first. A pure machine: the caller reports each attempt and passes the time.
public struct ServerRotation: Sendable {
    /// How one attempt on the current node went, as the rotation needs it.
    public enum Outcome: Sendable, Equatable {
        /// The node took us (a session ran): stay with it.
        case worked
        /// The node failed or sent us away: move on.
        case failed
        /// The node sent us away and named where to go.
        case redirected(to: ServerEndpoint)
    }

    /// How long a close hint's node stays first in line: a hint is about the moment it was sent.
    public static let redirectValidity: Double = 60

    /// The `--server` URLs, in order.
    public private(set) var configured: [ServerEndpoint]
    /// The nodes learned from the last welcome that named any, not already configured.
    public private(set) var learned: [ServerEndpoint] = []
    /// The node of the last attempt.
    public private(set) var current: ServerEndpoint?
    private var lastFailure: [String: Date] = [:]
    private var redirect: (endpoint: ServerEndpoint, until: Date)?

    /// `first` and `others` are the `--server` URLs in order (the command line requires one).
    /// `spread` picks where among equally good nodes this agent starts looking (a random number,
    /// fixed for the agent's run; tests pass 0 for plain list order).
    public init(first: ServerEndpoint, others: [ServerEndpoint] = [], learned: [ServerEndpoint] = [], spread: UInt64 = 0) {
        self.first = first
        self.spread = spread
        configured = Self.unique([first] + others)
        self.learned = Self.unique(learned).filter { !configured.contains($0) }
    }

    private let first: ServerEndpoint
    private let spread: UInt64

    /// Every node it may try, configured first.
    public var candidates: [ServerEndpoint] { configured + learned }

    /// The node to try now.
    public mutating func next(now: Date) -> ServerEndpoint {
        if let redirect {
            self.redirect = nil
            if now < redirect.until {
                current = redirect.endpoint
                return redirect.endpoint
            }
        }
        let all = candidates
        if let current, all.contains(current), lastFailure[current.description] == nil { return current }
        var choice = first
        let neverFailed = all.filter { lastFailure[$0.description] == nil }
        if !neverFailed.isEmpty {
            // Until a node fails, the list's own order: the first connect goes to the first --server.
            choice = neverFailed[lastFailure.isEmpty ? 0 : Int(spread % UInt64(neverFailed.count))]
        } else {
            var oldest: Date?
            for endpoint in all {
                guard let failed = lastFailure[endpoint.description] else { continue }
                if oldest == nil || failed < (oldest ?? failed) {
                    oldest = failed
                    choice = endpoint
                }
            }
        }
        current = choice
        return choice
    }

    /// Records how the attempt on `current` went.
    public mutating func record(_ outcome: Outcome, now: Date) {
        guard let current else { return }
        switch outcome {
        case .worked:
            lastFailure[current.description] = nil
        case .failed:
            lastFailure[current.description] = now
        case .redirected(let target):
            lastFailure[current.description] = now
            if target != current { redirect = (target, now.addingTimeInterval(Self.redirectValidity)) }
        }
    }

    /// Replaces the learned nodes with `nodes` (those already configured are left out). Returns
    /// whether the list changed, so the caller saves it only then.
    @discardableResult
    public mutating func learn(_ nodes: [ServerEndpoint]) -> Bool {
        let fresh = Self.unique(nodes).filter { !configured.contains($0) }
        guard fresh != learned else { return false }
        learned = fresh
        let known = Set(candidates.map(\.description))
        lastFailure = lastFailure.filter { known.contains($0.key) }
        return true
    }

    /// What an attempt says about the node: a session that ran and ended for a reason of its own
    /// (a deadline, an eviction) keeps the node; anything that never reached a welcome, or a close
    /// that means "go elsewhere", moves on. A permanent refusal also counts as a failure (the loop
    /// stops on it anyway).
    public static func outcome(of attempt: ConnectAttempt, allowPlain: Bool) -> Outcome {
        switch attempt {
        case .failed, .answerLost, .ended(.refused):
            return .failed
        case .ended(.ended(let closure, let welcomed, _, _)):
            if let code = closure.code.flatMap(CloseCode.init(rawValue:)), closure.byPeer,
               case .reconnect(let url)? = CloseHint.parse(code: code, reason: closure.reason),
               let target = LearnedNodes.endpoint(url, allowPlain: allowPlain) {
                return .redirected(to: target)
            }
            guard welcomed else { return .failed }
            if let code = closure.code.flatMap(CloseCode.init(rawValue:)), closure.byPeer, goElsewhere.contains(code) { return .failed }
            // Closed under us without a close frame (the node died): try it once more, then move on.
            return .worked
        }
    }

    /// Closes after which another node is worth a try: this one is going away or refuses us for now.
    static let goElsewhere: Set<CloseCode> = [.goingAway, .internalError, .serverShutdown, .rateLimited, .writeBlocked]

    private static func unique(_ endpoints: [ServerEndpoint]) -> [ServerEndpoint] {
        var seen = Set<String>()
        return endpoints.filter { seen.insert($0.description).inserted }
    }
}
