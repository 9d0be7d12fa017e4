import Foundation
import RMMAgent
import RMMTestSupport
import RMMTransport
import Testing
@testable import RMMFleetSim

@Suite("Fleet simulator parts")
struct FleetSimUnitTests {
    @Test("the connect gate admits at most its slots, in arrival order, and lets cancelled waiters go")
    func connectGate() async throws {
        let gate = ConnectGate(slots: 2)
        try await gate.acquire()
        try await gate.acquire()
        let order = Order()
        let first = Task {
            try await gate.acquire()
            await order.add(1)
        }
        try await waitUntil("first waiter queued") { gate.waiting == 1 }
        let second = Task {
            try await gate.acquire()
            await order.add(2)
        }
        try await waitUntil("second waiter queued") { gate.waiting == 2 }
        let cancelled = Task { try await gate.acquire() }
        try await waitUntil("third waiter queued") { gate.waiting == 3 }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(gate.waiting == 2)

        gate.release()
        try await first.value
        gate.release()
        try await second.value
        #expect(await order.items == [1, 2])
        // Two slots held by the waiters that got them; releasing both frees the gate again.
        gate.release()
        gate.release()
        try await gate.acquire()
        try await gate.acquire()
        #expect(gate.waiting == 0)
    }

    @Test("source addresses: ranges, lists, and the automatic spread for a loopback server")
    func sourceAddresses() throws {
        #expect(try SourceAddresses.parse("127.0.0.2-127.0.0.4, 10.0.0.7") == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "10.0.0.7"])
        #expect(throws: SimError.self) { try SourceAddresses.parse("127.0.0.9-127.0.0.2") }
        #expect(throws: SimError.self) { try SourceAddresses.parse("not-an-address") }

        let loopback = try ServerEndpoint(parsing: "ws://127.0.0.1:7443")
        let remote = try ServerEndpoint(parsing: "wss://rmm.example.com:7443")
        #expect(SourceAddresses.automatic(for: remote, count: 20_000).isEmpty)
        // Against a loopback server every agent is a host of its own.
        let addresses = SourceAddresses.automatic(for: loopback, count: 70_000)
        #expect(addresses.count == 70_000 && Set(addresses).count == 70_000)
        #expect(addresses.prefix(2) == ["127.1.1.1", "127.1.1.2"])
        #expect(addresses[254] == "127.1.2.1" && addresses[254 * 254] == "127.2.1.1")
        #expect(addresses.allSatisfy { !$0.hasSuffix(".0") && !$0.hasSuffix(".255") })
    }

    @Test("identities live in one 0600 file; reopening gives the same agents, growing adds new ones")
    func identityFile() throws {
        let directory = try freeTemporaryDirectory(prefix: "fleet-sim-state")
        let store = try SimIdentityStore.open(directory: directory, count: 3, namePrefix: "sim-")
        let first = store.records(3)
        #expect(first.map(\.name) == ["sim-00001", "sim-00002", "sim-00003"])
        #expect(Set(first.map(\.privateKey)).count == 3)
        let attributes = try FileManager.default.attributesOfItem(atPath: store.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [SimIdentityStore.fileName])

        store.enrolled(1, agentId: "a_two")
        store.pin(serverKey: "key", tlsTrust: nil)
        try store.flush()

        let again = try SimIdentityStore.open(directory: directory, count: 4, namePrefix: "other-")
        let records = again.records(4)
        #expect(records.prefix(3).map(\.privateKey) == first.map(\.privateKey))
        #expect(records[1].agentId == "a_two")
        #expect(records[3].name == "other-00004")
        #expect(again.pinned.serverKey == "key")
    }

    @Test("recent command ids are bounded: the oldest is forgotten first")
    func recentIds() {
        var ids = RecentIds(capacity: 2)
        ids.insert("a")
        ids.insert("b")
        ids.insert("a")
        #expect(ids.contains("a") && ids.contains("b"))
        ids.insert("c")
        #expect(!ids.contains("a"))
        #expect(ids.contains("b") && ids.contains("c"))
    }

    @Test("options are checked before anything runs")
    func options() throws {
        var options = FleetSimOptions(endpoint: try ServerEndpoint(parsing: "ws://127.0.0.1:1"), count: 0, enrollToken: nil, stateDirectory: "/tmp/x", version: "0")
        #expect(!options.problems().isEmpty)
        options.count = 5
        #expect(options.problems().isEmpty)
    }
}

/// What the gate's waiters did, in order.
private actor Order {
    private(set) var items: [Int] = []
    func add(_ item: Int) { items.append(item) }
}
