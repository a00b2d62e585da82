import Foundation
import TollgateCore

/// Reads the HMAC keys named by the configuration from the environment or from files.
public enum SecretResolver {
    /// Secrets given as hex (64+ digits) are decoded; anything else is used as UTF-8 bytes. At least 16 bytes.
    /// The keys that sign the upstream contract: `contract_secrets` when configured, else derived from the offer keys.
    public static func contractKeys(_ configuration: GatewayConfiguration, offerKeys: KeyRing,
                                    environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> KeyRing {
        configuration.contractSecrets.isEmpty ? offerKeys.contractKeys() : try keyRing(configuration.contractSecrets, environment: environment)
    }

    public static func keyRing(_ sources: [GatewayConfiguration.SecretSource],
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> KeyRing {
        var keys: [SecretKey] = []
        var issues: [ConfigurationIssue] = []
        for (index, source) in sources.enumerated() {
            let text: String
            switch read(source.origin, path: "secrets[\(index)]", environment: environment) {
            case .text(let value): text = value
            case .missing(let issue):
                issues.append(issue)
                continue
            }
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

    /// The admin API's bearer token, read like the HMAC secrets (environment variable, or file without
    /// surrounding whitespace; at least 16 bytes). Its text is the token as clients send it: a hex token
    /// is not decoded, since it is compared with the `Authorization` header as written.
    public static func adminToken(_ origin: GatewayConfiguration.SecretSource.Origin,
                                  environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> [UInt8] {
        let issue: ConfigurationIssue
        switch read(origin, path: "admin.token", environment: environment) {
        case .text(let text) where text.utf8.count >= 16: return Array(text.utf8)
        case .text: issue = .init(line: nil, path: "admin.token", message: "the token must be at least 16 bytes (openssl rand -hex 32)")
        case .missing(let missing): issue = missing
        }
        throw ConfigurationError(file: "admin.token", issues: [issue])
    }

    /// The text of one secret, or why it cannot be had.
    static func read(_ origin: GatewayConfiguration.SecretSource.Origin, path: String,
                     environment: [String: String]) -> SecretText {
        switch origin {
        case .environment(let name):
            guard let text = environment[name] else { return .missing(.init(line: nil, path: path, message: "environment variable \(name) is not set")) }
            return .text(text)
        case .file(let file):
            guard let text = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) else {
                return .missing(.init(line: nil, path: path, message: "cannot read \(file)"))
            }
            return .text(text)
        }
    }

    enum SecretText {
        case text(String)
        case missing(ConfigurationIssue)
    }
}
