// swift-tools-version:6.2
import PackageDescription

/// The same settings on every target (docs/architecture.md).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Tollgate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tollgate", targets: ["tollgate"]),
        .library(name: "TollgateCore", targets: ["TollgateCore"]),
        .library(name: "TollgateX402", targets: ["TollgateX402"]),
        .library(name: "TollgateSQLite", targets: ["TollgateSQLite"]),
        .library(name: "TollgatePostgres", targets: ["TollgatePostgres"]),
        .library(name: "TollgateConfiguration", targets: ["TollgateConfiguration"]),
        .library(name: "TollgateHTTP", targets: ["TollgateHTTP"]),
        .library(name: "TollgateAdmin", targets: ["TollgateAdmin"]),
        .library(name: "TollgateDevFacilitator", targets: ["TollgateDevFacilitator"]),
        .library(name: "TollgateDesign", targets: ["TollgateDesign"]),
        .library(name: "TollgateMCP", targets: ["TollgateMCP"]),
        .library(name: "TollgateGateway", targets: ["TollgateGateway"]),
        .library(name: "TollgateMCPServer", targets: ["TollgateMCPServer"]),
        .library(name: "TollgateClient", targets: ["TollgateClient"]),
        .library(name: "TollgateClientMCP", targets: ["TollgateClientMCP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // The PostgreSQL store (issue 12; migrations only so far).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        // TLS for the facilitator's own connections (FacilitatorConnectionPool); AsyncHTTPClient depends on it already.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The in-process MCP door (TollgateMCPServer) wraps the CallTool handler of this SDK's `Server`.
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
    ],
    targets: [
        .target(
            name: "TollgateCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        .target(
            name: "TollgateX402",
            dependencies: [
                "TollgateCore",
                "CSecp256k1",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // A VFS over SQLite's default one that writes each transaction's WAL frames in one write (WALCoalescing.swift).
        .target(
            name: "CSQLiteWALCoalescing",
            linkerSettings: [.linkedLibrary("sqlite3")]
        ),
        .target(
            name: "TollgateSQLite",
            dependencies: [
                "TollgateCore",
                "CSQLiteWALCoalescing",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The shared store: many gateway instances on one PostgreSQL (postgres-nio), versioned migrations.
        .target(
            name: "TollgatePostgres",
            dependencies: [
                "TollgateCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The configuration model, its YAML loader and secret resolving: no HTTP server, metrics or JWT
        // library, so `tollgate check`/`design` and TollgateDesign do not pull them in (docs/architecture.md, Targets).
        .target(
            name: "TollgateConfiguration",
            dependencies: ["TollgateCore", "TollgateX402", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // A gateway built from a configuration (`GatewayAssembly`): rail, facilitator pool, settings, the HTTP upstream
        // client, the metrics recorded through swift-metrics and the services beside them. No Hummingbird, so a door
        // that is not a Hummingbird application (TollgateMCPServer) builds on it (docs/architecture.md, Targets).
        .target(
            name: "TollgateGateway",
            dependencies: [
                "TollgateCore",
                "TollgateConfiguration",
                "TollgateX402",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The proxy door: the reverse-proxy responder, the Hummingbird middleware, JWT identities, the MCP listener
        // (no admin API, no Prometheus: docs/architecture.md, Targets); re-exports TollgateGateway.
        .target(
            name: "TollgateHTTP",
            dependencies: [
                "TollgateCore",
                "TollgateConfiguration",
                "TollgateGateway",
                "TollgateX402",
                "TollgateMCP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        // The in-process MCP door: a swift-sdk `Server`'s CallTool handler wrapped so priced tools go through the
        // journey. Never Hummingbird: swift-sdk and Hummingbird share type names (docs/architecture.md).
        .target(
            name: "TollgateMCPServer",
            dependencies: [
                "TollgateCore",
                "TollgateGateway",
                "TollgateMCP",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "MCP", package: "swift-sdk"),
            ],
            swiftSettings: swiftSettings
        ),
        // The MCP door: paid `tools/call` through the journey, the x402 MCP transport, upstream MCP servers over
        // streamable HTTP and stdio. No Hummingbird here (docs/architecture.md, "MCP door").
        .target(
            name: "TollgateMCP",
            dependencies: [
                "TollgateCore",
                "TollgateX402",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The paying side (issue 14): an x402 client for agents with hard budgets and a ledger of its own (SQLite), for
        // HTTP and MCP tool calls. No Hummingbird here (docs/architecture.md, "The paying side").
        .target(
            name: "TollgateClient",
            dependencies: [
                "TollgateCore",
                "TollgateX402",
                "TollgateMCP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // The paying side for agents built on modelcontextprotocol/swift-sdk: pays tool calls made through its `Client`.
        .target(
            name: "TollgateClientMCP",
            dependencies: ["TollgateClient", "TollgateCore", "TollgateMCP", .product(name: "MCP", package: "swift-sdk")],
            swiftSettings: swiftSettings
        ),
        // The admin listener: the admin API (+ OpenAPI document), the Prometheus exposition of the proxy's metrics,
        // and `GatewayServer`, which runs both listeners for `tollgate serve`.
        .target(
            name: "TollgateAdmin",
            dependencies: [
                "TollgateCore",
                "TollgateConfiguration",
                "TollgateHTTP",
                "TollgateX402",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("Admin/openapi.json")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateDevFacilitator",
            dependencies: [
                "TollgateCore",
                "TollgateSQLite",
                "TollgateX402",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TollgateDesign",
            dependencies: ["TollgateCore", "TollgateConfiguration", "TollgateX402", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "tollgate",
            dependencies: [
                "TollgateDesign",
                "TollgateConfiguration",
                "TollgateCore",
                "TollgateX402",
                "TollgateSQLite",
                "TollgatePostgres",
                "TollgateMCP",
                "TollgateHTTP",
                "TollgateAdmin",
                "TollgateDevFacilitator",
                "TollgateClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The Hummingbird door by example (examples/hummingbird-app): a small priced API behind `TollgateMiddleware`.
        .executableTarget(
            name: "HummingbirdPaidAPI",
            dependencies: [
                "TollgateCore",
                "TollgateHTTP",
                "TollgateSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "examples/hummingbird-app/Sources/HummingbirdPaidAPI",
            swiftSettings: swiftSettings
        ),
        // The behaviour every `GatewayStore` must show, for test targets only (docs/architecture.md, "The store seam").
        .target(name: "TollgateStoreConformance", dependencies: ["TollgateCore"], swiftSettings: swiftSettings),
        .testTarget(name: "TollgateCoreTests", dependencies: ["TollgateCore", "TollgateStoreConformance", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        .testTarget(
            name: "TollgateX402Tests",
            dependencies: ["TollgateX402", "TollgateCore", "TollgateGateway",
                           .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateDesignTests",
            dependencies: ["TollgateDesign", "TollgateConfiguration", "TollgateCore"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateClientTests",
            dependencies: [
                "TollgateClient", "TollgateCore", "TollgateX402", "TollgateMCP", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "Logging", package: "swift-log"),
                // A loopback server that drops connections, answers 503s and redirects (Support/ScriptedServer.swift).
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateCLITests",
            dependencies: [
                "tollgate", "TollgateConfiguration", "TollgateCore", "TollgateSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgatePostgresTests",
            dependencies: [
                "TollgatePostgres", "TollgateConfiguration", "TollgateCore", "TollgateStoreConformance", "TollgateGateway",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateSQLiteTests", dependencies: ["TollgateSQLite", "TollgateCore", "TollgateStoreConformance"], swiftSettings: swiftSettings),
        .testTarget(
            name: "TollgateMCPServerTests",
            dependencies: [
                "TollgateMCPServer", "TollgateGateway", "TollgateMCP", "TollgateCore", "TollgateX402", "TollgateSQLite",
                "TollgateDevFacilitator", "TollgateClient", "TollgateClientMCP", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TollgateHTTPTests",
            dependencies: [
                "TollgateHTTP", "TollgateAdmin", "TollgateConfiguration", "TollgateCore", "TollgateX402", "TollgateSQLite", "TollgateDevFacilitator", "TollgateMCP", "TollgateStoreConformance",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
