/// The CSRF check of the console's forms: every form that changes anything carries its session's
/// CSRF secret in a hidden `csrf` field, compared in constant time.
enum ConsoleCSRF {
    /// The form field's name.
    static let field = "csrf"

    /// Whether `given` is the session's secret; the time taken depends only on the lengths.
    static func matches(expected: String, given: String?) -> Bool {
        guard let given else { return false }
        let a = Array(expected.utf8), b = Array(given.utf8)
        guard a.count == b.count, !a.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
