import TollgateConfiguration
import TollgateCore

/// The answer assumed when none is given. The interview shows these in brackets; the answers file and the
/// flags fall back to the same values, so both ways produce the same file from the same answers.
public enum InitDefaults {
    public static let mimeType = "application/json"
    public static let unit = InitUnit.request
    public static let network = InitNetwork.baseSepolia
    public static let records = InitAnswers.Records(header: "X-Record-Count")
    public static let packageSize = 100
    public static let period = "day"
    public static let denials = "all"
    public static let archiveDir = ".tollgate/audit-archive"
    /// The development facilitator (`tollgate facilitator --dev`, test networks only).
    public static let facilitators = ["http://127.0.0.1:8404"]
    public static let settle = "after"
    public static let adminListen = "127.0.0.1:8405"
    public static let adminTokenEnv = "TOLLGATE_ADMIN_TOKEN"
    public static let listen = "127.0.0.1:8402"
    public static let sqlite = ".tollgate/gateway.sqlite"
    public static let secretEnv = "TOLLGATE_SECRET"

    /// `/<name>/*`: everything below the resource's name.
    public static func paths(_ answers: InitAnswers) -> [String] { ["/\(answers.resource.name ?? "api")/*"] }

    /// `GET` for a read-only resource, any method otherwise.
    public static func method(_ answers: InitAnswers) -> String { answers.resource.readOnly ?? true ? "GET" : "*" }

    /// Agents → anonymous payers, scripts and integrations → API keys, humans → JWT.
    public static func identities(_ answers: InitAnswers) -> [InitIdentity] {
        InitIdentity.suggested(for: callers(answers))
    }

    /// One API client per script or integration caller (`script`, `integration`), else `client`.
    public static func apiClientIds(_ answers: InitAnswers) -> [String] {
        let ids = callers(answers).filter { $0 == .script || $0 == .integration }.map(\.rawValue)
        return ids.isEmpty ? ["client"] : ids
    }

    /// The scopes of question 4 plus the resource's scope and write scope (never the private-field or
    /// action scopes: those are privileges to grant on purpose).
    public static func clientScopes(_ answers: InitAnswers) -> [String] {
        var result = answers.permissions.scopes ?? []
        for scope in [answers.permissions.scope, answers.permissions.writeScope].compactMap({ $0 }) where !result.contains(scope) {
            result.append(scope)
        }
        return result
    }

    /// The most units one request may buy: 60 seconds of work, else 1000.
    public static func quantityMax(_ answers: InitAnswers) -> Int {
        switch unit(answers) {
        case .second, .minute: 60
        default: 1000
        }
    }

    /// The gateway's rate limits (docs/configuration.md, `limits`).
    public static func rate(_ trafficClass: String) -> InitAnswers.Rate {
        let global = LimitsConfiguration.defaults.global
        let limit = switch trafficClass {
        case "unpaid": global.unpaid
        case "paid": global.paid
        default: global.invalid
        }
        guard let limit else { return .off }
        return .limit(ratePerSecond: limit.ratePerSecond, burst: limit.burst)
    }

    /// Spend caps count per client when every caller is identified; anonymous payers only per paying address.
    public static func spendCapPer(_ answers: InitAnswers) -> String {
        identified(answers) && !identitiesChosen(answers).contains(.anonymous) ? "client" : "payer"
    }

    /// `http://<listen>`.
    public static func publicURL(_ answers: InitAnswers) -> String { "http://\(answers.gateway.listen ?? listen)" }

    // Lenient readings of earlier answers, for defaults only (the plan checks them properly).

    static func callers(_ answers: InitAnswers) -> [InitCaller] {
        (answers.callers ?? []).compactMap { InitCaller(rawValue: InitCaller.aliases[$0.lowercased()] ?? $0.lowercased()) }
    }

    static func identitiesChosen(_ answers: InitAnswers) -> [InitIdentity] {
        guard let methods = answers.identity.methods else { return identities(answers) }
        return methods.compactMap { InitIdentity(rawValue: InitIdentity.aliases[$0.lowercased()] ?? $0.lowercased()) }
    }

    static func identified(_ answers: InitAnswers) -> Bool { identitiesChosen(answers).contains { $0 != .anonymous } }

    static func unit(_ answers: InitAnswers) -> InitUnit {
        answers.billing.unit.flatMap { InitUnit(rawValue: InitUnit.aliases[$0.lowercased()] ?? $0.lowercased()) } ?? unit
    }
}

extension InitDefaults {
    /// `<resource>:private`.
    public static func privateScope(_ answers: InitAnswers) -> String { "\(answers.resource.name ?? "api"):private" }
}

extension InitDefaults {
    /// The network answered so far (custom when only an asset was given), leniently.
    static func networkChosen(_ answers: InitAnswers) -> InitNetwork {
        guard let text = answers.billing.network?.lowercased() else { return answers.billing.asset == nil ? network : .custom }
        return InitNetwork(rawValue: InitNetwork.aliases[text] ?? text) ?? network
    }
}
