import Foundation
import Logging
import RMMAPI
import RMMStore
import RMMTestSupport
import Testing

extension EndToEnd {
    /// `gururmm server --store postgres://…`: nodes sharing one PostgreSQL store, their keys and
    /// their names, and moving a SQLite fleet over; each with the real `gururmm` binary.
    @Suite("End to end: server nodes on PostgreSQL", .serialized)
    struct PostgresNodeTests {
        /// A data directory of its own (0700, as the server wants it), empty or with `keys` copied in.
        private func dataDirectory(copying keys: String? = nil) async throws -> String {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-pg-node") + "/data"
            if let keys {
                let (code, output) = try await runCLIPlain(["cluster", "export-keys", "--data-dir", keys, "--out", directory])
                #expect(code == 0, "\(output)")
            }
            return directory
        }

        /// Runs `gururmm server --store` expecting it to stop by itself: its exit code and output.
        private func failedStart(_ dataDirectory: String, store: String, node: String) async throws -> (code: Int32, output: String) {
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "server", "--plain", "--data-dir", dataDirectory, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                "--store", store, "--node-name", node,
            ], logPath: dataDirectory + "-failed-start-\(UUID().uuidString).log")
            let code = try await process.waitForExit(timeout: .seconds(60))
            return (code, process.logContents())
        }

        private func openStore(_ url: String) async throws -> PostgresStore {
            try await PostgresStore.open(try PostgresLocation(parsing: url), password: nil, logger: Logger(label: "test.pg-node"))
        }

        @Test("a bad store URL and an unreachable database stop the start with one line naming the problem")
        func badStores() async throws {
            let data = try await dataDirectory()
            var (code, output) = try await failedStart(data, store: "postgres://rmm:secret@localhost/fleet", node: "n1")
            #expect(code != 0)
            #expect(output.contains("--store: the URL holds a password"), "\(output)")
            let missing = try freeTemporaryDirectory(prefix: "gururmm-no-pg")
            (code, output) = try await failedStart(data, store: "postgres://rmm@localhost/fleet?host=\(missing)", node: "n1")
            #expect(code != 0)
            #expect(output.contains("cannot use the store") && output.contains("unavailable"), "\(output)")
            #expect(!FileManager.default.fileExists(atPath: data + "/gururmm.sqlite"), "no SQLite file is made with --store")
        }

        @Test("a node whose signing key is not the cluster's is refused, naming the key and how to join")
        func otherKeysRefused() async throws {
            let server = try await PostgresTestServer.shared()
            let url = try await server.createDatabase(prefix: "node_keys")
            let store = try await openStore(url)
            defer { store.close() }
            #expect(try await store.claimIdentity(ClusterIdentity(signingKey: "the-first-nodes-key", tlsTrust: "plain"), node: "first") == .recorded)
            let (code, output) = try await failedStart(try await dataDirectory(), store: url, node: "n2")
            #expect(code != 0)
            #expect(output.contains("signing key") && output.contains("the-first-nodes-key") && output.contains("recorded by node first")
                    && output.contains("export-keys"), "\(output)")
            #expect(try await store.liveNodes().isEmpty)
        }

        @Test("a node whose name is held by a running start is refused, saying since when and what to do")
        func heldNameRefused() async throws {
            let server = try await PostgresTestServer.shared()
            let url = try await server.createDatabase(prefix: "node_name")
            let store = try await openStore(url)
            defer { store.close() }
            #expect(try await store.acquireNodeLease(NodeClaim(name: "n1", instance: "running", leaseSeconds: 300)) == .acquired)
            let (code, output) = try await failedStart(try await dataDirectory(), store: url, node: "n1")
            #expect(code != 0)
            #expect(output.contains("node name n1 is held by a running node since") && output.contains("--node-name"), "\(output)")
        }

        @Test("store migrate refuses a running server, then copies a stopped one and reports its counts")
        func migrateRefusesRunningThenCopies() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "node_migrate")
            let server = try await E2EServer.start()
            _ = try await server.api.enrollToken(uses: 3)
            var (code, output) = try await runMigrate(from: server.dataDirectory, to: url)
            #expect(code != 0)
            #expect(output.contains("is running (pid") && output.contains("stop it first"), "\(output)")
            await server.stop()
            (code, output) = try await runMigrate(from: server.dataDirectory, to: url)
            #expect(code == 0, "\(output)")
            // Counts are aligned after the longest table name: any run of spaces before them.
            #expect(output.contains(#/enrollment_tokens +1\b/#) && output.contains("api_tokens") && output.contains("equal SQLite's"), "\(output)")
            (code, output) = try await runMigrate(from: server.dataDirectory, to: url)
            #expect(code != 0)
            #expect(output.contains("not empty"), "\(output)")
        }

        private func runMigrate(from: String, to: String) async throws -> (code: Int32, output: String) {
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: ["store", "migrate", "--from", from, "--to", to],
                                                   logPath: from + "/../migrate-\(UUID().uuidString).log")
            return (try await process.waitForExit(timeout: .seconds(60)), process.logContents())
        }

        @Test("a node on PostgreSQL serves an agent; a second node with the same keys joins; another key or a live node's name is refused")
        func nodesShareAStore() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "node_pair")
            let first = try await E2EServer.start(["--store", url, "--node-name", "n1"])
            let exported = try freeTemporaryDirectory(prefix: "gururmm-pg-join") + "/data"
            var agent: E2EAgent?
            var second: ManagedProcess?
            do {
                #expect(!FileManager.default.fileExists(atPath: first.dataDirectory + "/gururmm.sqlite"))
                let token = try await first.api.enrollToken(uses: 1)
                agent = try E2EAgent.start(name: "pg-agent", server: first.agentURL, enrollToken: token)
                try await first.api.waitOnline("pg-agent")
                let views = try await first.api.finish(try await first.api.run(["pg-agent"], "echo on-postgres"))
                #expect(views.first?.state == .succeeded && views.first?.stdout == "on-postgres\n")

                // The same keys, another name: it joins, and sees the same fleet.
                var (code, output) = try await runCLIPlain(["cluster", "export-keys", "--data-dir", first.dataDirectory, "--out", exported])
                #expect(code == 0, "\(output)")
                let joined = try ManagedProcess.start(try gururmmBinary(), arguments: [
                    "server", "--plain", "--data-dir", exported, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
                    "--store", url, "--node-name", "n2",
                ], logPath: exported + "-server.log")
                second = joined
                try await waitUntil("the second node is ready", timeout: .seconds(60)) {
                    if !joined.isRunning { throw E2EError("the second node exited:\n\(joined.logContents())") }
                    return FileManager.default.fileExists(atPath: exported + "/server.json")
                }
                let ready = try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: exported + "/server.json")))
                let secondAPI = TestAPI(base: ready.apiUrl, token: first.token)
                #expect(try await secondAPI.agent(named: "pg-agent") != nil)
                let store = try await openStore(url)
                #expect(try await store.liveNodes().map(\.name) == ["n1", "n2"])
                store.close()

                // Another key is refused; so is a running node's name.
                (code, output) = try await failedStart(try await dataDirectory(), store: url, node: "n3")
                #expect(code != 0 && output.contains("signing key"), "\(output)")
                (code, output) = try await failedStart(try await dataDirectory(copying: first.dataDirectory), store: url, node: "n1")
                #expect(code != 0 && output.contains("node name n1 is held by a running node"), "\(output)")
            } catch {
                Issue.record("\(error)\n---- first node log (tail) ----\n\(first.process.logExcerpt(tail: 6000))")
            }
            await agent?.stop()
            _ = try? await second?.terminateAndWait(grace: .seconds(5))
            await first.stop()
        }

        private func runCLIPlain(_ arguments: [String]) async throws -> (code: Int32, output: String) {
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: arguments,
                                                   logPath: FileManager.default.temporaryDirectory.path + "/cli-\(UUID().uuidString).log")
            return (try await process.waitForExit(timeout: .seconds(60)), process.logContents())
        }
    }
}
