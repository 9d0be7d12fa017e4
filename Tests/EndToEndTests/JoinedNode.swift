import Foundation
import RMMAPI
import RMMTestSupport
import Testing

/// A second server node joined to `first`'s cluster: `first`'s keys exported into `state/name`,
/// started on the same store under `name`, and waited for until it is ready.
struct JoinedNode {
    let process: ManagedProcess
    let api: TestAPI
    let agentURL: String

    static func start(joining first: E2EServer, store url: String, name: String, state: String, extra: [String] = []) async throws -> JoinedNode {
        let join = state + "/" + name
        let export = try ManagedProcess.start(try gururmmBinary(), arguments: ["cluster", "export-keys", "--data-dir", first.dataDirectory, "--out", join],
                                              logPath: state + "/export-\(name).log")
        guard try await export.waitForExit(timeout: .seconds(60)) == 0 else { throw E2EError("export-keys failed:\n\(export.logContents())") }
        let node = try ManagedProcess.start(try gururmmBinary(), arguments: [
            "server", "--plain", "--data-dir", join, "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
            "--store", url, "--node-name", name,
        ] + extra, logPath: state + "/\(name).log")
        try await waitUntil("node \(name) is ready", timeout: .seconds(60)) {
            if !node.isRunning { throw E2EError("node \(name) exited:\n\(node.logContents())") }
            return FileManager.default.fileExists(atPath: join + "/server.json")
        }
        let ready = try APICoding.decoder().decode(ServerReady.self, from: Data(contentsOf: URL(fileURLWithPath: join + "/server.json")))
        return JoinedNode(process: node, api: TestAPI(base: ready.apiUrl, token: first.token), agentURL: "ws://127.0.0.1:\(ready.agentPort)")
    }
}
