import HTTPTypes
import TollgateCore

/// The answers of `tollgate init` checked, with every default applied: what `InitGenerator` writes.
/// Build it with `InitPlan(answers)`, which reports every missing, invalid or conflicting answer at once.
public struct InitPlan: Sendable, Hashable {
    // 1. the resource
    public var resource: String
    public var upstream: String
    public var paths: [String]
    public var description: String
    public var readOnly: Bool
    /// `GET`, `POST`… or `*` for any method.
    public var method: String
    public var mimeType: String

    // 2. callers and identity
    public var callers: [InitCaller]
    public var identities: [InitIdentity]
    public var clients: [Client]
    public var jwt: JWT?

    // 3. billing
    public var unit: InitUnit
    /// The price as answered (per minute for `minute`).
    public var price: String
    /// The price per configured unit and payment (`minute` is converted to seconds).
    public var routePrice: String
    public var network: InitNetwork
    public var asset: Asset
    public var payTo: String
    public var quantity: Quantity?
    public var records: Records?
    public var workSecondsHeader: String?
    public var packageSize: Int?

    // 4. permissions
    public var scopes: [String]
    public var scope: String?
    public var writeScope: String?
    /// Sorted by action.
    public var actionScopes: [ActionScope]
    public var privateFields: PrivateFields?

    // 5. limits
    public var unpaid: InitAnswers.Rate
    public var paid: InitAnswers.Rate
    public var invalid: InitAnswers.Rate
    public var spendCap: SpendCap?
    public var quota: Quota?

    // 6. audit
    public var auditDenials: String
    public var retentionDays: Int?
    public var archiveDir: String

    // 7. failures and refunds
    public var facilitators: [String]
    /// `after` or `before`.
    public var settle: String
    public var refundsAutomatic: Bool
    public var payoutContact: String?
    public var admin: Admin?

    // the gateway
    public var listen: String
    public var publicURL: String
    public var sqlite: String
    public var secretEnv: String

    public struct Client: Sendable, Hashable {
        public var id: String
        public var scopes: [String]
        public var organisation: String?
    }

    public struct JWT: Sendable, Hashable {
        public var issuer: String
        public var audience: String
        public var jwksFile: String
    }

    public struct Quantity: Sendable, Hashable {
        public enum Source: Sendable, Hashable {
            case query(String)
            case body(String)
        }

        public var source: Source
        public var max: Int
        public var `default`: Int?
    }

    public enum Records: Sendable, Hashable {
        case header(String)
        case jsonArray(String)
    }

    public struct ActionScope: Sendable, Hashable {
        /// An HTTP method or `?parameter`.
        public var action: String
        public var scope: String
    }

    public struct PrivateFields: Sendable, Hashable {
        public var scope: String
        public var fields: [String]
    }

    public struct SpendCap: Sendable, Hashable {
        public var max: String
        /// `client`, `organisation` or `payer`.
        public var per: String
        /// `day` or `month`.
        public var period: String
    }

    public struct Quota: Sendable, Hashable {
        public var max: Int
        public var per: String
        public var period: String
    }

    public struct Admin: Sendable, Hashable {
        public var listen: String
        public var tokenEnv: String
    }

    /// Whether anonymous x402 payers may call.
    public var anonymous: Bool { identities.contains(.anonymous) }

    /// The write methods (those lint TG102 looks for) that routes matching `method` (`*` for any) accept:
    /// the ones `writeScope` guards.
    static func writeMethods(matching method: String) -> [String] {
        let all = ConfigurationLint.writeMethods.map(\.rawValue)
        return method == "*" ? all : all.filter { $0 == method }
    }

    /// The facilitator and upstream timeouts to write, and a `max_timeout_seconds` that outlives them.
    public var timeouts: InitTimeouts { InitTimeouts(facilitators: facilitators.count) }

    /// The environment variables `tollgate serve` needs.
    public var environment: [String] { [secretEnv] + (admin.map { [$0.tokenEnv] } ?? []) }
}
