import Crypto
import Foundation
import RMMAPI
import RMMProtocol
import RMMStore
import RMMTestSupport
import Synchronization
import Testing

extension EndToEnd {
    /// A node on PostgreSQL whose agents' pool is full still serves its operators, on their own
    /// pool (`StoreLane.operator`, set by the API's middleware); `--store-connections` is checked.
    @Suite("End to end: the operator's lane on PostgreSQL", .serialized)
    struct OperatorLaneTests {
        /// How many enrollments got their answer.
        final class Enrolled: Sendable {
            let count = Atomic(0)
        }

        /// Sends one enrollment with `token` and returns the welcome's agent id (nil: none came).
        static func enroll(agentPort: Int, token: String, name: String) async throws -> String? {
            let key = Curve25519.Signing.PrivateKey()
            let publicKey = key.publicKey.rawRepresentation.base64EncodedString()
            let client = try await RawAgentPortClient.connect(port: agentPort, from: "127.0.0.1")
            defer { Task { await client.tcp.close() } }
            guard let nonce = try await client.upgrade()?.nonce else { throw E2EError("no challenge for the enrollment of \(name)") }
            let facts = AgentFacts(name: name, hostname: name, os: "none", version: "0")
            let signature = try AgentProof.sign(nonce: nonce, agentId: publicKey, key: key)
            try await client.send(Envelope(.enroll(Enroll(token: token, publicKey: publicKey, signature: signature, facts: facts, stream: "s-\(name)"))))
            guard case .welcome(let welcome)? = try await client.message(at: 1, timeout: .seconds(60))?.message else { return nil }
            return welcome.agentId
        }

        /// The node's agents' backends waiting for a lock.
        static func agentsWaiting(_ postgres: PostgresTestServer, database: String) async throws -> Int {
            let count = try await postgres.psql("""
                SELECT count(*) FROM pg_stat_activity
                WHERE datname = '\(database)' AND application_name = 'gururmm agents' AND wait_event_type = 'Lock'
                """)
            return Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }

        @Test("GET /fleet answers while enrollments hold both connections of a node's agents' pool and more wait for one")
        func fleetAnswersWhileAgentsPoolIsFull() async throws {
            let postgres = try await PostgresTestServer.shared()
            let url = try await postgres.createDatabase(prefix: "operator_lane_node")
            let database = try PostgresLocation(parsing: url).database
            let server = try await E2EServer.start(["--store", url, "--node-name", "n1", "--store-connections", "2", "--handshake-timeout", "120"])
            let token = try await server.api.enrollToken(uses: 10)
            // Every enrollment's first statement waits for this lock, holding its pooled connection.
            let marker = "operator_lane_\(UUID().uuidString.prefix(8))"
            let holder = Task {
                try await postgres.psql("BEGIN; LOCK TABLE enrollment_tokens IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(100) AS \(marker); COMMIT", database: database)
            }
            let release = { @Sendable in
                _ = try? await postgres.psql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS \(marker)%' AND pid <> pg_backend_pid()")
            }
            let enrolled = Enrolled()
            var enrollments: [Task<String?, any Error>] = []
            do {
                try await waitUntil("the lock is held") {
                    let held = try await postgres.psql("""
                        SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                        WHERE c.relname = 'enrollment_tokens' AND l.mode = 'AccessExclusiveLock' AND l.granted
                        """, database: database)
                    return held.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
                }
                let agentPort = server.agentPort
                enrollments = (0..<3).map { index in
                    Task {
                        let id = try await Self.enroll(agentPort: agentPort, token: token, name: "lane-\(index)")
                        enrolled.count.add(1, ordering: .relaxed)
                        return id
                    }
                }
                try await waitUntil("both agent connections wait for the lock", timeout: .seconds(60)) {
                    try await Self.agentsWaiting(postgres, database: database) == 2
                }

                let fleet = try await server.api.client.fleet()
                #expect(fleet.enrolled == 0)
                #expect(enrolled.count.load(ordering: .relaxed) == 0, "no enrollment finished while the operator was answered")
                #expect(try await Self.agentsWaiting(postgres, database: database) == 2, "the agents' pool is still held")
            } catch {
                Issue.record("\(error)\n---- server log (tail) ----\n\(server.process.logExcerpt(tail: 6000))")
            }

            await release()
            _ = try? await holder.value
            for enrollment in enrollments {
                #expect(try await enrollment.value != nil, "each enrollment goes through once the lock is released")
            }
            #expect(try await server.api.client.fleet().enrolled == enrollments.count)
            await server.stop()
        }

        @Test("--store-connections outside 2...64, or without --store, stops the start naming the range", arguments: [
            (["--store", "postgres://rmm@localhost/fleet", "--store-connections", "1"], "--store-connections must be 2...64 (got 1)"),
            (["--store", "postgres://rmm@localhost/fleet", "--store-connections", "65"], "--store-connections must be 2...64 (got 65)"),
            (["--store-connections", "8"], "--store-connections goes with --store"),
        ])
        func storeConnectionsChecked(arguments: [String], message: String) async throws {
            let directory = try freeTemporaryDirectory(prefix: "gururmm-store-connections")
            let process = try ManagedProcess.start(try gururmmBinary(), arguments: [
                "server", "--plain", "--data-dir", directory + "/data", "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
            ] + arguments, logPath: directory + "/server.log")
            #expect(try await process.waitForExit(timeout: .seconds(30)) != 0)
            #expect(process.logContents().contains(message), "\(process.logContents())")
        }
    }
}
