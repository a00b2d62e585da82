import Foundation
import TollgateCore

/// Reads the HMAC keys named by the configuration from the environment or from files.
public enum SecretResolver {
    /// Secrets given as hex (64+ digits) are decoded; anything else is used as UTF-8 bytes. At least 16 bytes.
    public static func keyRing(_ sources: [GatewayConfiguration.SecretSource],
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> KeyRing {
        var keys: [SecretKey] = []
        var issues: [ConfigurationIssue] = []
        for (index, source) in sources.enumerated() {
            let text: String?
            switch source.origin {
            case .environment(let name):
                text = environment[name]
                if text == nil { issues.append(.init(line: nil, path: "secrets[\(index)]", message: "environment variable \(name) is not set")) }
            case .file(let path):
                text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                if text == nil { issues.append(.init(line: nil, path: "secrets[\(index)]", message: "cannot read \(path)")) }
            }
            guard let text else { continue }
            let bytes = (text.utf8.count >= 64 ? HexString.decode(text) : nil) ?? Array(text.utf8)
            guard let key = SecretKey(id: source.id, secret: bytes) else {
                issues.append(.init(line: nil, path: "secrets[\(index)]", message: "the secret must be at least 16 bytes (32 random hex bytes recommended)"))
                continue
            }
            keys.append(key)
        }
        guard issues.isEmpty, let ring = KeyRing(keys) else {
            throw ConfigurationError(file: "secrets", issues: issues.isEmpty ? [.init(line: nil, path: "secrets", message: "no key")] : issues)
        }
        return ring
    }
}
