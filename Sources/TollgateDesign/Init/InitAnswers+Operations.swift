extension InitAnswers {
    /// Question 6: what the audit log keeps (every denial is an audit event).
    public struct Audit: Sendable, Hashable, Codable {
        /// `all` (default) or `none`: whether denials are kept in the audit log.
        public var denials: String?
        /// Archive then delete events older than this; nil keeps every event.
        public var retentionDays: Int?
        /// Where archives go; default `.tollgate/audit-archive`.
        public var archiveDir: String?

        public init(denials: String? = nil, retentionDays: Int? = nil, archiveDir: String? = nil) {
            self.denials = denials
            self.retentionDays = retentionDays
            self.archiveDir = archiveDir
        }

        enum CodingKeys: String, CodingKey {
            case denials
            case retentionDays = "retention_days"
            case archiveDir = "archive_dir"
        }
    }

    /// Question 7: facilitators and failover, when to settle, refunds, the operator's admin API.
    public struct Failures: Sendable, Hashable, Codable {
        /// Facilitator URLs in failover order; default the development facilitator `http://127.0.0.1:8404`.
        public var facilitators: [String]?
        /// `after` (default: only delivered answers are charged) or `before` (work that cannot be undone).
        public var settle: String?
        public var refunds: Refunds?
        public var admin: Admin?

        public init(facilitators: [String]? = nil, settle: String? = nil, refunds: Refunds? = nil, admin: Admin? = nil) {
            self.facilitators = facilitators
            self.settle = settle
            self.refunds = refunds
            self.admin = admin
        }
    }

    /// Refunds of settle-before requests that were not delivered.
    public struct Refunds: Sendable, Hashable, Codable {
        /// Record a refund automatically (default true).
        public var automatic: Bool?
        /// Who pays refunds out (a person, team or address), for support.
        public var payoutContact: String?

        public init(automatic: Bool? = nil, payoutContact: String? = nil) {
            self.automatic = automatic
            self.payoutContact = payoutContact
        }

        enum CodingKeys: String, CodingKey {
            case automatic
            case payoutContact = "payout_contact"
        }
    }

    /// The admin API listener (revocations, incident switch); its token is read from the environment.
    public struct Admin: Sendable, Hashable, Codable {
        /// Default true.
        public var enabled: Bool?
        /// Default `127.0.0.1:8405` (loopback only).
        public var listen: String?
        /// Default `TOLLGATE_ADMIN_TOKEN`.
        public var tokenEnv: String?

        public init(enabled: Bool? = nil, listen: String? = nil, tokenEnv: String? = nil) {
            self.enabled = enabled
            self.listen = listen
            self.tokenEnv = tokenEnv
        }

        enum CodingKeys: String, CodingKey {
            case enabled, listen
            case tokenEnv = "token_env"
        }
    }

    /// The gateway's own settings.
    public struct Gateway: Sendable, Hashable, Codable {
        /// Default `127.0.0.1:8402`.
        public var listen: String?
        /// Default `http://<listen>`.
        public var publicURL: String?
        /// Default `.tollgate/gateway.sqlite`.
        public var sqlite: String?
        /// The environment variable holding the HMAC secret; default `TOLLGATE_SECRET`.
        public var secretEnv: String?

        public init(listen: String? = nil, publicURL: String? = nil, sqlite: String? = nil, secretEnv: String? = nil) {
            self.listen = listen
            self.publicURL = publicURL
            self.sqlite = sqlite
            self.secretEnv = secretEnv
        }

        enum CodingKeys: String, CodingKey {
            case listen, sqlite
            case publicURL = "public_url"
            case secretEnv = "secret_env"
        }
    }
}
