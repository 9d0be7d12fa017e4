import Foundation
import Testing
@testable import RMMStore

@Suite struct MetricHistoryStoreTests {
    @Test(arguments: StoreBackend.allCases) func aSaveReplacesEachAgentsBlobWholeInOneBatch(backend: StoreBackend) async throws {
        let store = try await backend.makeStore()
        defer { RegistryFixture.close(store) }
        #expect(try await store.metricHistory(agentId: "ag_1") == nil)
        let big = Data((0..<13_000).map { UInt8($0 % 251) })
        try await store.saveMetricHistories([("ag_1", Data([1, 2, 3])), ("ag_2", big)], now: Fixture.t0)
        #expect(try await store.metricHistory(agentId: "ag_1") == Data([1, 2, 3]))
        #expect(try await store.metricHistory(agentId: "ag_2") == big)
        try await store.saveMetricHistories([("ag_1", Data([9]))], now: Fixture.at(300))
        #expect(try await store.metricHistory(agentId: "ag_1") == Data([9]))
        #expect(try await store.metricHistory(agentId: "ag_2") == big)
        try await store.saveMetricHistories([], now: Fixture.at(600))
        // An agent named twice in one batch ends with its last entry, as if saved one by one.
        try await store.saveMetricHistories([("ag_1", Data([4])), ("ag_1", Data([5]))], now: Fixture.at(900))
        #expect(try await store.metricHistory(agentId: "ag_1") == Data([5]))
        #expect(try await store.metricHistory(agentId: "ag_3") == nil)
    }
}
