extension InitAnswers {
    /// Question 1: the resource behind the gateway.
    public struct Resource: Sendable, Hashable, Codable {
        /// The resource id: in offers, audit events, the ledger (`datasets`).
        public var name: String?
        /// The API's base URL (`http://127.0.0.1:8403`).
        public var upstream: String?
        /// Path patterns (`/datasets/*`); default `/<name>/*`.
        public var paths: [String]?
        /// Sent to payers in the 402 terms; default the name.
        public var description: String?
        /// Whether the resource is only read (default) or also has write actions (POST, PUT, PATCH, DELETE).
        public var readOnly: Bool?
        /// The HTTP method the routes match; default `GET` when read-only, `*` (any) otherwise.
        public var method: String?
        /// The media type of its answers; default `application/json`.
        public var mimeType: String?

        public init(name: String? = nil, upstream: String? = nil, paths: [String]? = nil, description: String? = nil,
                    readOnly: Bool? = nil, method: String? = nil, mimeType: String? = nil) {
            self.name = name
            self.upstream = upstream
            self.paths = paths
            self.description = description
            self.readOnly = readOnly
            self.method = method
            self.mimeType = mimeType
        }

        enum CodingKeys: String, CodingKey {
            case name, upstream, paths, description, method
            case readOnly = "read_only"
            case mimeType = "mime_type"
        }
    }
}
