# syntax=docker/dockerfile:1
# FineXtract.Cluster image. Build: docker build --build-arg TORCH_BACKEND=cpu|cuda -t finextract .
# The runtime is Ubuntu 24.04 (noble): its libstdc++ has GLIBCXX_3.4.32, so TorchSharp needs no compat step there.
ARG TORCH_BACKEND=cpu

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
ARG TORCH_BACKEND
WORKDIR /src
COPY Directory.Build.props Directory.Build.targets Directory.Packages.props FineXtract.Cluster.sln ./
COPY build/ build/
COPY src/FineXtract.Core/FineXtract.Core.csproj src/FineXtract.Core/
COPY src/FineXtract.Cli/FineXtract.Cli.csproj src/FineXtract.Cli/
RUN --mount=type=cache,target=/root/.nuget/packages \
    dotnet restore src/FineXtract.Cli/FineXtract.Cli.csproj -p:TorchBackend=${TORCH_BACKEND}
COPY src/ src/
RUN --mount=type=cache,target=/root/.nuget/packages \
    dotnet publish src/FineXtract.Cli/FineXtract.Cli.csproj -c Release --no-restore \
      -p:TorchBackend=${TORCH_BACKEND} -p:UseAppHost=false -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS runtime
ARG TORCH_BACKEND
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    FINEXTRACT_TORCH_BACKEND=${TORCH_BACKEND}
WORKDIR /app
COPY --from=build /app ./
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/finextract.dll"]
CMD ["--help"]
