extension InitAnswers {
    /// Question 2: how callers are identified.
    public struct Identity: Sendable, Hashable, Codable {
        /// `anonymous` (x402 payers without an account), `api_keys`, `jwt`; default from the callers:
        /// agents → anonymous, scripts and integrations → api_keys, humans → jwt.
        public var methods: [String]?
        /// The API clients to create a key for (with `api_keys`); default one per script/integration caller.
        public var apiClients: [APIClient]?
        /// The identity provider's tokens (with `jwt`).
        public var jwt: JWT?

        public init(methods: [String]? = nil, apiClients: [APIClient]? = nil, jwt: JWT? = nil) {
            self.methods = methods
            self.apiClients = apiClients
            self.jwt = jwt
        }

        enum CodingKeys: String, CodingKey {
            case methods, jwt
            case apiClients = "api_clients"
        }
    }

    /// One API client: a key is generated for it, only the key's SHA-256 is written.
    public struct APIClient: Sendable, Hashable, Codable {
        public var id: String
        /// Default: the scopes of question 4 plus the resource's scope and write scope.
        public var scopes: [String]?
        public var organisation: String?

        public init(id: String, scopes: [String]? = nil, organisation: String? = nil) {
            self.id = id
            self.scopes = scopes
            self.organisation = organisation
        }
    }

    /// Bearer JWTs from an identity provider, for humans.
    public struct JWT: Sendable, Hashable, Codable {
        public var issuer: String?
        public var audience: String?
        public var jwksFile: String?

        public init(issuer: String? = nil, audience: String? = nil, jwksFile: String? = nil) {
            self.issuer = issuer
            self.audience = audience
            self.jwksFile = jwksFile
        }

        enum CodingKeys: String, CodingKey {
            case issuer, audience
            case jwksFile = "jwks_file"
        }
    }
}
