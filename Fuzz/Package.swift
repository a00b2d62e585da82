// swift-tools-version:6.2
// libFuzzer targets for Tollgate's parsers of untrusted input (docs/fuzzing.md). A package of its own,
// so the main package's products and CI build stay as they are. scripts/fuzz.sh builds and runs them:
//
//   swift build --package-path Fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
//     -Xcc -fsanitize=fuzzer-no-link,address
import PackageDescription

/// One executable per fuzz target: it exports `LLVMFuzzerTestOneInput`, and its entry point
/// (`<Target>_main`, which SwiftPM links as `main`) runs libFuzzer's driver.
let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
    ("FuzzPaymentHeader", [
        .product(name: "TollgateCore", package: "Tollgate"),
        .product(name: "TollgateX402", package: "Tollgate"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
    ]),
    ("FuzzX402JSON", [
        .product(name: "TollgateCore", package: "Tollgate"),
        .product(name: "TollgateX402", package: "Tollgate"),
    ]),
    ("FuzzRequestPath", [
        .product(name: "TollgateCore", package: "Tollgate"),
    ]),
    ("FuzzConfiguration", [
        .product(name: "TollgateHTTP", package: "Tollgate"),
    ]),
    ("FuzzJWT", [
        .product(name: "TollgateCore", package: "Tollgate"),
        .product(name: "TollgateHTTP", package: "Tollgate"),
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "Crypto", package: "swift-crypto"),
    ]),
]

let package = Package(
    name: "TollgateFuzz",
    platforms: [.macOS(.v15)],
    products: fuzzTargets.map { .executable(name: $0.name, targets: [$0.name]) },
    dependencies: [
        .package(name: "Tollgate", path: ".."),
        // Already in the main package's graph (same requirements); named here for direct imports.
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // Declares LLVMFuzzerRunDriver, which each target's entry point calls.
        .target(name: "CLibFuzzer"),
    ] + fuzzTargets.map { .executableTarget(name: $0.name, dependencies: ["CLibFuzzer"] + $0.dependencies) }
)
