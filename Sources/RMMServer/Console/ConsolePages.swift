import Foundation
import Hummingbird
import Mustache

/// Renders the console's pages from `ConsoleTemplates` into HTML responses that no cache keeps.
struct ConsolePages: Sendable {
    let library: MustacheLibrary
    let assets = ConsoleAssets()

    init() throws {
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all {
            try library.register(text, named: name)
        }
        self.library = library
    }

    /// The operator part of every page's header.
    struct Operator: Sendable {
        let name: String
        let role: String
        let csrf: String
    }

    /// `template` rendered with `values`, plus what every page has (title, page, assets, operator).
    func render(_ template: String, title: String, operator who: Operator?, values: [String: Any] = [:], status: HTTPResponse.Status = .ok) -> Response {
        var context = values
        context["title"] = title
        context["page"] = template
        context["assets"] = assets.hashes
        if let who { context["operator"] = ["name": who.name, "role": who.role, "csrf": who.csrf] }
        let html = library.render(context, withTemplate: template) ?? "template \(template) is missing"
        return Self.html(html, status: status)
    }

    /// A page that says one thing (an error, a refusal), with a way back.
    func message(_ heading: String, _ text: String, status: HTTPResponse.Status, operator who: Operator? = nil, back: String = "/") -> Response {
        render("message", title: heading, operator: who, values: ["heading": heading, "text": text, "back": back], status: status)
    }

    /// An HTML response that is never cached: pages carry operator data.
    static func html(_ html: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// A 303 to `location` (after a form), with extra headers such as `Set-Cookie`.
    static func redirect(_ location: String, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: .seeOther, headers: headers)
    }
}
