import Crypto
import Foundation
import RMMProtocol

/// The console's stylesheet and script, compiled into the binary. Pages link them with their
/// content hash in the query (`?v=`), so they are cached for a year and a new build's change is
/// fetched at once; the hash is their `ETag` as well.
struct ConsoleAssets: Sendable {
    /// One served file.
    struct Asset: Sendable {
        let body: String
        let contentType: String
        /// The first 16 hex digits of the body's SHA-256.
        let hash: String

        init(_ body: String, contentType: String) {
            self.body = body
            self.contentType = contentType
            hash = String(Hex.encode(Array(SHA256.hash(data: Data(body.utf8)))).prefix(16))
        }
    }

    let css = Asset(ConsoleStyle.css, contentType: "text/css; charset=utf-8")
    let js = Asset(ConsoleScript.js, contentType: "text/javascript; charset=utf-8")

    /// The file at `/static/<name>`.
    func asset(named name: String) -> Asset? {
        switch name {
        case "console.css": return css
        case "console.js": return js
        default: return nil
        }
    }

    /// The hashes as the templates' `assets` value.
    var hashes: [String: String] { ["css": css.hash, "js": js.hash] }
}
