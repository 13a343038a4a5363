# Build: docker build --build-arg VERSION=v1.2.3 -t gatehouse .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/gatehouse ./cmd/gatehouse

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
