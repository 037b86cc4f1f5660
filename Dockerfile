# syntax=docker/dockerfile:1
# FineXtract.Cluster image: `finextract silo` by default, any other verb as arguments (e.g. `campaign submit ...`).
#   docker build -t finextract .                                  CPU libtorch (default)
#   docker build --build-arg TORCH_BACKEND=cuda -t finextract:cuda .   CUDA 12.8 libtorch (TorchSharp-cuda-linux, several GB)
# The runtime is Ubuntu 24.04 (noble): its libstdc++ has GLIBCXX_3.4.32, so TorchSharp needs no compat step there.
# Weights, checkpoints and the SSCD TorchScript stay out of the image: mount them (Kubernetes: the artifacts volume).
ARG TORCH_BACKEND=cpu

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
ARG TORCH_BACKEND
WORKDIR /src
# Project files first, so the (large) restore layer is reused until a project or package version changes. These are the
# CLI and every project it references, directly or not (tests/FineXtract.Deploy.Tests checks the list).
COPY Directory.Build.props Directory.Build.targets Directory.Packages.props ./
COPY build/ build/
COPY src/FineXtract.Core/FineXtract.Core.csproj src/FineXtract.Core/
COPY src/FineXtract.Grains.Abstractions/FineXtract.Grains.Abstractions.csproj src/FineXtract.Grains.Abstractions/
COPY src/FineXtract.Grains/FineXtract.Grains.csproj src/FineXtract.Grains/
COPY src/FineXtract.Sampling.Grains/FineXtract.Sampling.Grains.csproj src/FineXtract.Sampling.Grains/
COPY src/FineXtract.Silo/FineXtract.Silo.csproj src/FineXtract.Silo/
COPY src/FineXtract.Cli/FineXtract.Cli.csproj src/FineXtract.Cli/
RUN --mount=type=cache,target=/root/.nuget/packages \
    dotnet restore src/FineXtract.Cli/FineXtract.Cli.csproj -p:TorchBackend=${TORCH_BACKEND}
COPY src/ src/
RUN --mount=type=cache,target=/root/.nuget/packages \
    dotnet publish src/FineXtract.Cli/FineXtract.Cli.csproj -c Release --no-restore \
      -p:TorchBackend=${TORCH_BACKEND} -p:UseAppHost=false -o /app

# Shared runtime: non-root user app (UID 1654, $APP_UID), the silo's ports, the health check.
FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS runtime-base
ARG TORCH_BACKEND
ENV FINEXTRACT_TORCH_BACKEND=${TORCH_BACKEND} \
    FINEXTRACT_HTTP_PORT=8080
RUN mkdir -p /data/artifacts && chown -R "$APP_UID:$APP_UID" /data
WORKDIR /app
COPY --from=build /app ./
# The demo bundle (35 MB: miniature models and their training images), so `docker run IMAGE demo` works.
COPY demo/ /app/demo/
COPY --chmod=0755 deploy/docker/healthcheck.sh /usr/local/bin/finextract-healthcheck
USER $APP_UID
# HTTP (/healthz, /metrics, /dashboard, /api), silo-to-silo, client gateway.
EXPOSE 8080 11111 30000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/finextract-healthcheck"]
ENTRYPOINT ["dotnet", "/app/finextract.dll"]
CMD ["silo", "--artifacts", "/data/artifacts"]

FROM runtime-base AS runtime-cpu

# Only the CUDA image asks the NVIDIA runtime for GPUs, so a CPU container on a GPU node sees none.
FROM runtime-base AS runtime-cuda
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM runtime-${TORCH_BACKEND} AS runtime
