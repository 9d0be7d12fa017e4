import Foundation
import Testing

/// The seams `RMMAPI` exists for, read from the sources: it stays free of server code, and the
/// CLI reaches the server's module only where it runs a server.
@Suite("Module boundaries")
struct ModuleBoundaryTests {
    /// The repository's root, from this file's place in it.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Each Swift file under `folder` (relative to the root) with the modules it imports.
    static func imports(under folder: String) throws -> [String: Set<String>] {
        let base = root.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [:] }
        var found: [String: Set<String>] = [:]
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            let modules = text.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                      words[..<index].allSatisfy({ $0.hasPrefix("@") }) else { return nil }
                return String(words[index + 1])
            }
            found[String(url.path.dropFirst(root.path.count + 1))] = Set(modules)
        }
        return found
    }

    @Test("RMMAPI imports no server, store or HTTP framework module")
    func apiStaysClientSide() throws {
        let files = try Self.imports(under: "Sources/RMMAPI")
        #expect(!files.isEmpty)
        let allowed: Set<String> = ["Foundation", "NIOHTTP1", "RMMProtocol", "RMMTransport"]
        for (file, modules) in files {
            #expect(modules.isSubset(of: allowed), "\(file) imports \(modules.subtracting(allowed).sorted())")
        }
    }

    @Test("only the gururmm files that start a server or work on its data directory import RMMServer")
    func cliUsesTheAPIModule() throws {
        let files = try Self.imports(under: "Sources/gururmm")
        let importing = Set(files.filter { $0.value.contains("RMMServer") }.keys)
        // Named, with the reason for each, in docs/architecture.md ("The RMMAPI module").
        #expect(importing == [
            "Sources/gururmm/ServerCommand.swift", "Sources/gururmm/DemoCommand.swift",
            "Sources/gururmm/Bench/BenchRun.swift", "Sources/gururmm/Bench/UnauthenticatedBench.swift",
            "Sources/gururmm/StoreCommand.swift", "Sources/gururmm/ClusterCommand.swift",
        ])
        #expect(!files.values.contains { $0.contains("RMMStore") })
    }
}
