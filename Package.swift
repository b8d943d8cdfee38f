// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ReAdapt",
    products: [
        .library(name: "ReAdapt", targets: ["ReAdapt"]),
        .executable(name: "readapt", targets: ["readapt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // oneDNN's C API: dnnl_sgemm is the GEMM behind every matrix product (see BENCHMARKS.md).
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        // LAPACKE: dense SVD and QR for LoRE's rank selection (small matrices; the large products
        // in the randomized SVD use oneDNN).
        .systemLibrary(name: "CLAPACK", path: "Sources/CLAPACK"),
        // Hot elementwise and low-precision kernels in C, compiled per-function for AVX2/AVX-512
        // with target attributes and chosen at run time, so no unsafe compiler flags are needed.
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(
            name: "ReAdapt",
            dependencies: ["CDNNL", "CLAPACK", "CKernels"],
            path: "Sources/ReAdapt"
        ),
        .executableTarget(
            name: "readapt",
            dependencies: [
                "ReAdapt",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/readapt"
        ),
        .testTarget(
            name: "ReAdaptTests",
            dependencies: ["ReAdapt"],
            path: "Tests/ReAdaptTests",
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
