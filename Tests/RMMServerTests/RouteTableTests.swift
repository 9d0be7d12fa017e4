import Foundation
import Hummingbird
import Testing

@testable import RMMServer

/// 405 instead of 404 for a known path asked with a method it does not take.
@Suite("Route table")
struct RouteTableTests {
    @Test("a known path with another method gets its methods; an unknown path gets nil")
    func allowedMethods() {
        let table = RouteTable.operatorAPI
        #expect(table.allowedMethods(for: "/api/v1/agents") == [.get])
        #expect(table.allowedMethods(for: "/api/v1/commands") == [.get, .post])
        #expect(table.allowedMethods(for: "/api/v1/config") == [.get, .put])
        #expect(table.allowedMethods(for: "/api/v1/agents/web-1/evict") == [.post])
        #expect(table.allowedMethods(for: "/api/v1/tokens/tk_1") == [.delete])
        #expect(table.allowedMethods(for: "/api/v1/agents/web-1/evict/") == [.post], "the router ignores a trailing slash")
        #expect(table.allowedMethods(for: "/api/v1/nothing") == nil)
        #expect(table.allowedMethods(for: "/api/v1/agents/web-1/nothing") == nil)
        #expect(table.allowedMethods(for: "/") == nil)
        #expect(RouteTable.allowHeader([.get, .post]) == "GET, POST")
    }

    @Test("the table lists exactly the paths and methods openapi.yaml documents")
    func matchesOpenAPI() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let yaml = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        var documented: [String: Set<String>] = [:]
        var path: String?
        var inPaths = false
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { continue }
            if !line.hasPrefix(" ") { inPaths = line == "paths:"; path = nil; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                // `{agent}` in the document is `:agent` in the router.
                let raw = line.dropFirst(2).dropLast()
                path = raw.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
                documented[path ?? "", default: []] = []
            } else if let current = path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "put", "post", "delete", "patch"].contains(String(key)) { documented[current, default: []].insert(key.uppercased()) }
            }
        }
        let table = Dictionary(uniqueKeysWithValues: RouteTable.operatorAPI.patterns.map { ($0.pattern, Set($0.methods.map(\.rawValue))) })
        #expect(!documented.isEmpty)
        #expect(table == documented)
    }
}
