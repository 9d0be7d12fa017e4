import Foundation
import RMMStore
import RMMTestSupport
import Testing

@testable import RMMServer

/// One bootstrap admin token per cluster: a node joining a shared store that already has a live
/// admin token makes none of its own; its first node, or a copied file, works as on one node.
@Suite("Cluster admin token")
struct ClusterAdminTokenTests {
    private func dataDirectory() throws -> DataDirectory {
        try DataDirectory(path: try freeTemporaryDirectory(prefix: "gururmm-admin") + "/data")
    }

    /// A store whose cluster's first node made the admin token, and that node's data directory.
    private func clusterWithFirstNode() async throws -> (SQLiteStore, DataDirectory) {
        let store = try SQLiteStore.inMemory()
        let first = try dataDirectory()
        #expect(try await first.ensureAdminToken(store: store, shared: true) == .created)
        return (store, first)
    }

    @Test("the first node makes the token; a joining node without the file makes none and writes no file")
    func joiningNodeMakesNone() async throws {
        let (store, _) = try await clusterWithFirstNode()
        let joining = try dataDirectory()
        #expect(try await joining.ensureAdminToken(store: store, shared: true) == .heldByCluster)
        #expect(!FileManager.default.fileExists(atPath: joining.adminTokenPath))
        #expect(try await store.apiTokens().filter { $0.role == "admin" }.count == 1)
    }

    @Test("a joining node with the first node's file copied uses that token")
    func copiedFileIsUsed() async throws {
        let (store, first) = try await clusterWithFirstNode()
        let joining = try dataDirectory()
        try FileManager.default.copyItem(atPath: first.adminTokenPath, toPath: joining.adminTokenPath)
        #expect(try await joining.ensureAdminToken(store: store, shared: true) == .existing)
        #expect(try await store.apiTokens().count == 1)
    }

    @Test("a cluster whose admin tokens are all revoked gets a new one, as a single node whose file was moved away")
    func noLiveAdminMakesOne() async throws {
        let store = try SQLiteStore.inMemory()
        let old = try await store.createAPIToken(name: "admin", role: "admin", hash: "old", now: Date())
        _ = try await store.createAPIToken(name: "ci", role: "operator", hash: "ci", now: Date())
        try await store.revokeAPIToken(id: old.id, now: Date())
        let joining = try dataDirectory()
        #expect(try await joining.ensureAdminToken(store: store, shared: true) == .created)
        // One node alone keeps its behaviour: a missing file means a new token.
        let single = try dataDirectory()
        #expect(try await single.ensureAdminToken(store: store) == .created)
    }
}
