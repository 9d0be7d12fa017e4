import Foundation
import Synchronization

/// Two network namespaces joined by a veth pair, optionally with an MTU blackhole (size-blackhole, H1 in docs/diagnosis.md).
//
// The server namespace holds `serverAddress`, the agent namespace `agentAddress`; both are
// private addresses that exist only inside those namespaces. With `blackholeAbove` set, both
// veth ends silently drop IPv4 packets longer than that many bytes: no ICMP "fragmentation
// needed" ever comes back, so TCP stalls once it sends full-size segments, exactly like a
// path with a broken PMTU. Needs root; check `isSupported()` first.
public final class NetLab: Sendable {
    /// Namespace of the server end.
    public let serverNamespace: String
    /// Namespace of the agent end.
    public let agentNamespace: String
    /// IPv4 address of the server end (inside `serverNamespace`).
    public let serverAddress: String
    /// IPv4 address of the agent end (inside `agentNamespace`).
    public let agentAddress: String
    /// IPv4 packets longer than this are dropped in both directions; nil means no blackhole.
    public let blackholeAbove: Int?

    static let serverDevice = "veth-srv"
    static let agentDevice = "veth-agt"

    let tools: NetLabTools
    private let destroyed = Mutex(false)

    private init(
        serverNamespace: String,
        agentNamespace: String,
        subnet: Int,
        blackholeAbove: Int?,
        tools: NetLabTools
    ) {
        self.serverNamespace = serverNamespace
        self.agentNamespace = agentNamespace
        self.serverAddress = "10.231.\(subnet).1"
        self.agentAddress = "10.231.\(subnet).2"
        self.blackholeAbove = blackholeAbove
        self.tools = tools
    }

    deinit {
        // Safety net for a test that forgot destroy(): never leave namespaces behind.
        destroyNow()
    }

    /// Creates the namespaces, the veth pair and (optionally) the blackhole.
    ///
    /// - Parameters:
    ///   - name: a short label (letters, digits, `.`, `_`, `-`); namespaces are named
    ///     `<name>-<pid>-<n>-srv` / `-agt`, and leftovers from dead runs with the same label are
    ///     deleted first.
    ///   - blackholeAbove: drop IPv4 packets whose total length exceeds this (68...1499), or nil.
    public static func create(name: String, blackholeAbove: Int?) async throws -> NetLab {
        try validate(name: name, blackholeAbove: blackholeAbove)
        // `ip` and `tc` run synchronously (and namespace teardown can take seconds): keep them off
        // Swift's cooperative pool, which on a 2-core machine has only two threads for every test.
        return try await offCooperativePool { try createNow(name: name, blackholeAbove: blackholeAbove) }
    }

    private static func createNow(name: String, blackholeAbove: Int?) throws -> NetLab {
        let tools = try NetLabTools.find()
        try NetLabNames.removeStale(label: name, tools: tools)
        let base = NetLabNames.unique(label: name)
        let lab = NetLab(
            serverNamespace: "\(base)-srv",
            agentNamespace: "\(base)-agt",
            subnet: NetLabNames.subnet(for: name),
            blackholeAbove: blackholeAbove,
            tools: tools
        )
        do {
            try lab.build()
        } catch {
            lab.destroyNow()
            throw error
        }
        return lab
    }

    /// The argv that runs `executable arguments...` inside the server or agent namespace, in the
    /// shape `ManagedProcess.start(_:arguments:)` takes.
    public func command(inServer: Bool, _ executable: String, _ arguments: [String]) -> (String, [String]) {
        let namespace = inServer ? serverNamespace : agentNamespace
        return (tools.ip, ["netns", "exec", namespace, executable] + arguments)
    }

    /// How many packets the blackhole has dropped so far, both directions together.
    public func blackholedPackets() throws -> Int {
        guard blackholeAbove != nil else { return 0 }
        var total = 0
        for (namespace, device) in [(serverNamespace, Self.serverDevice), (agentNamespace, Self.agentDevice)] {
            let statistics = try NetLabShell.run(tools.tc, ["-n", namespace, "-s", "qdisc", "show", "dev", device])
            total += NetLabBlackhole.droppedPackets(inQdiscStatistics: statistics)
        }
        return total
    }

    /// Kills anything still running in the namespaces and deletes them (and with them the veth
    /// pair). Idempotent.
    public func destroy() async {
        try? await offCooperativePool { self.destroyNow() }
    }

    /// Whether NetLab can run here, without blocking the cooperative pool on the first (slow) check.
    public static func checkSupport() async -> (Bool, String) {
        (try? await offCooperativePool { isSupported() }) ?? (false, "support check failed")
    }

    fileprivate func destroyNow() {
        let alreadyDone = destroyed.withLock { done in
            defer { done = true }
            return done
        }
        guard !alreadyDone else { return }
        for namespace in [serverNamespace, agentNamespace] {
            NetLabNames.delete(namespace: namespace, tools: tools)
        }
    }

    private static func validate(name: String, blackholeAbove: Int?) throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-"))
        guard !name.isEmpty, name.count <= 40, name.unicodeScalars.allSatisfy({ allowed.contains($0) && $0.isASCII })
        else {
            throw NetLabError.invalidArgument("NetLab name must be 1-40 ASCII letters, digits, '.', '_' or '-': \(name)")
        }
        if let limit = blackholeAbove, !(68...1499).contains(limit) {
            throw NetLabError.invalidArgument("blackholeAbove must be in 68...1499 (the veth MTU is 1500): \(limit)")
        }
    }
}

/// Runs blocking work on a Dispatch thread and awaits it, so it never occupies a cooperative thread.
func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}
