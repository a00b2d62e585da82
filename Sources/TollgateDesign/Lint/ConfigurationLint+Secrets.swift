import Foundation
import TollgateConfiguration
import TollgateCore

extension ConfigurationLint {
    /// Header names that carry credentials whatever they hold.
    static let credentialHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "apikey"]
    /// Words that make a header or query parameter name a credential (`X-Auth-Token`, `api_key`, `signature`).
    static let credentialWords = ["token", "secret", "key", "auth", "password", "passwd", "credential", "session", "signature"]

    /// TG115: credentials written in the file (facilitator headers, passwords and tokens in URLs, the database password).
    static func checkSecrets(_ c: inout LintContext) {
        let configuration = c.configuration
        if let source = configuration.source {
            for (index, facilitator) in configuration.facilitators.enumerated() {
                for endpoint in facilitator.headers.keys.sorted() {
                    for (name, value) in facilitator.headers[endpoint] ?? [] {
                        let path = "facilitators[\(index)].headers.\(endpoint).\(name)"
                        guard !source.environmentReferences.contains(path), carriesCredential(name: name, value: value) else { continue }
                        let variable = "FACILITATOR_" + name.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
                        let calls = endpoint == "all" ? "every call" : "/\(endpoint)"
                        let partial = value.contains("${")
                        c.report(.inlineSecret, at: path,
                                 "\(c.name(facilitator: index)) sends \(name) on \(calls) with a value written in the file"
                                    + (partial ? " (`${…}` is only read from the environment when it is the whole value)" : ""),
                                 fix: "write `\(name): ${\(variable)}` and set \(variable) (the whole header value) in the environment of `tollgate serve`")
                    }
                }
            }
        }
        // A database password in the URL is a secret only when the URL itself is written in the file.
        if let postgres = configuration.postgres, case .literal(let password) = postgres.password, !password.isEmpty,
           configuration.source?.environmentReferences.contains("storage.postgres.url") != true {
            c.report(.inlineSecret, at: "storage.postgres.url", "the PostgreSQL URL carries its password in the file",
                     fix: "write `url: ${TOLLGATE_POSTGRES_URL}` and set the variable, or drop the password from the URL and use password_env or password_file")
        }
        var urls = configuration.facilitators.enumerated().map { ("facilitators[\($0.offset)].url", c.name(facilitator: $0.offset), $0.element.url) }
        urls.append(("upstream.url", "upstream (\(LintContext.origin(configuration.upstreamURL)))", configuration.upstreamURL))
        for (path, name, text) in urls {
            guard let url = URLComponents(string: text) else { continue }
            let parameters = (url.queryItems ?? []).map(\.name).filter { isCredential(name: $0) }
            if url.password != nil {
                c.report(.inlineSecret, at: path, "\(name) has a password in its URL",
                         fix: "remove the user and password from the URL; give the facilitator its credential in a header written `${NAME}`")
            }
            if !parameters.isEmpty {
                c.report(.inlineSecret, at: path, "\(name) carries \(parameters.listed) in its URL's query",
                         fix: "move the credential to a header written `${NAME}` (facilitators[].headers) and out of the URL")
            }
        }
    }

    static func isCredential(name: String) -> Bool {
        let lower = name.lowercased()
        return credentialHeaders.contains(lower) || credentialWords.contains { lower.contains($0) }
    }

    static func carriesCredential(name: String, value: String) -> Bool {
        let lower = value.lowercased()
        return isCredential(name: name) || ["bearer ", "basic ", "token "].contains { lower.hasPrefix($0) }
    }
}
