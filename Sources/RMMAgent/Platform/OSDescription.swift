import Foundation

/// A one-line description of the OS the agent runs on, e.g. "Linux 6.1.0 x86_64".
public func currentOSDescription() -> String {
    var info = utsname()
    guard uname(&info) == 0 else { return "unknown" }
    func field<T>(_ value: T) -> String {
        withUnsafeBytes(of: value) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
    return "\(field(info.sysname)) \(field(info.release)) \(field(info.machine))"
}
