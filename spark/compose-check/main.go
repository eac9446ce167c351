// Command compose-check validates docker-compose.yml without a Docker engine, the way
// `docker compose` v2 itself reads it, and checks that it pins the versions of
// spark/versions.env.
//
// The file is loaded with compose-go (the loader inside `docker compose` v2): YAML, the
// Compose Specification's JSON schema (unknown keys, wrong types, a `depends_on` condition
// that does not exist), interpolation, references between services, networks and volumes.
// Any warning the loader prints (an obsolete `version:` key, an unset variable) counts as an
// error. Each Dockerfile it builds is parsed and linted with BuildKit's own Dockerfile parser
// (dockerfile.go); a lint warning is an error too. Then, on the loaded model:
//
//   - an image of a pinned product (apache/kafka, apache/spark, the project's Spark image)
//     carries exactly the pinned version as its tag; every other pulled image has an
//     explicit tag other than `latest`;
//   - a build arg named like a key of versions.env has that key's value, both in the Compose
//     file and as the default of the `ARG` in the Dockerfile it builds; a `FROM` of a pinned
//     product uses the pinned tag or the matching ARG;
//   - a Maven coordinate of the Spark Kafka connector equals SPARK_KAFKA_CONNECTOR;
//   - every `service_healthy` dependency has a healthcheck, every dependency exists;
//   - the services named by -scalable can run as several replicas (no container_name, no
//     fixed host port).
//
// Usage: compose-check -versions spark/versions.env [-project-dir DIR] [-scalable a,b] [-print] FILE
// Exit status 0 when every check passes, 1 when one fails, 2 on bad usage.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// pinnedImages maps an image repository to the versions.env key its tag must equal.
var pinnedImages = map[string]string{
	"apache/kafka":      "KAFKA_VERSION",
	"apache/spark":      "SPARK_VERSION",
	"tradesignal/spark": "SPARK_VERSION",
}

// report counts checks and prints one line per check.
type report struct{ checks, failures int }

func (r *report) ok(format string, args ...any) {
	r.checks++
	fmt.Printf("  ok    %s\n", fmt.Sprintf(format, args...))
}

func (r *report) fail(format string, args ...any) {
	r.checks++
	r.failures++
	fmt.Printf("  FAIL  %s\n", fmt.Sprintf(format, args...))
}

// check records one check: ok when cond holds, else a failure with the given message.
func (r *report) check(cond bool, okMsg, failMsg string) {
	if cond {
		r.ok("%s", okMsg)
	} else {
		r.fail("%s", failMsg)
	}
}

// warnings collects what the loader logs at warning level or above.
type warnings struct{ messages []string }

func (w *warnings) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warnings) Fire(e *logrus.Entry) error {
	w.messages = append(w.messages, e.Message)
	return nil
}

func main() {
	versionsFile := flag.String("versions", "spark/versions.env", "the pinned versions (KEY=VALUE lines)")
	projectDir := flag.String("project-dir", "", "directory relative paths resolve against (default: the file's directory)")
	scalable := flag.String("scalable", "", "comma-separated services that must work with --scale")
	print := flag.Bool("print", false, "print the resolved model as YAML (like `docker compose config`)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: compose-check [-versions FILE] [-project-dir DIR] [-scalable a,b] [-print] COMPOSE_FILE\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	file := flag.Arg(0)
	dir := *projectDir
	if dir == "" {
		dir = filepath.Dir(file)
	}
	versions, err := readVersions(*versionsFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		os.Exit(2)
	}

	r := &report{}
	fmt.Printf("compose-check: %s (versions from %s)\n", file, *versionsFile)
	project := load(r, file, dir)
	if project != nil && *print {
		out, err := project.MarshalYAML()
		if err != nil {
			r.fail("cannot print the model: %v", err)
		}
		fmt.Printf("%s", out)
	}
	if project != nil {
		checkVersions(r, project, versions)
		checkDependencies(r, project)
		for _, name := range splitList(*scalable) {
			checkScalable(r, project, name)
		}
	}
	checkConnectorPin(r, versions)

	fmt.Printf("compose-check: %d checks, %d failed\n", r.checks, r.failures)
	if r.failures > 0 {
		os.Exit(1)
	}
}

// readVersions parses KEY=VALUE lines, skipping blank lines and # comments.
func readVersions(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	versions := map[string]string{}
	scanner := bufio.NewScanner(f)
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, found := strings.Cut(line, "=")
		if !found {
			return nil, fmt.Errorf("%s:%d: not KEY=VALUE: %q", path, n, line)
		}
		versions[strings.TrimSpace(key)] = strings.Trim(strings.TrimSpace(value), `"'`)
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%s: no versions in it", path)
	}
	return versions, nil
}

// load parses and validates the file like `docker compose config` does, with an empty
// environment (so every `${VAR:-default}` takes its default, as on a machine with nothing set)
// and no .env file.
func load(r *report, file, dir string) *types.Project {
	hook := &warnings{}
	logrus.AddHook(hook)
	logrus.SetOutput(ioDiscard{})
	options, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(dir),
		cli.WithName("compose-check"),
		cli.WithEnv(nil),
		cli.WithInterpolation(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		r.fail("compose options: %v", err)
		return nil
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		r.fail("compose-go rejects %s: %v", file, err)
		return nil
	}
	r.ok("compose-go loads %s against the Compose Specification schema: %d services (%s)",
		file, len(project.Services), strings.Join(sortedKeys(project.Services), ", "))
	if len(hook.messages) == 0 {
		r.ok("the loader printed no warning (no obsolete `version:`, no unset variable)")
	}
	for _, m := range hook.messages {
		r.fail("loader warning: %s", m)
	}
	return project
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

func checkVersions(r *report, project *types.Project, versions map[string]string) {
	dockerfiles := map[string]bool{}
	for _, name := range sortedKeys(project.Services) {
		s := project.Services[name]
		repo, tag := splitImage(s.Image)
		if key, pinned := pinnedImages[repo]; pinned {
			want := versions[key]
			r.check(tag == want,
				fmt.Sprintf("%s: image %s matches %s=%s", name, s.Image, key, want),
				fmt.Sprintf("%s: image %s has tag %q but versions.env pins %s=%s", name, s.Image, tag, key, want))
		} else if s.Build == nil {
			r.check(s.Image != "" && tag != "" && tag != "latest",
				fmt.Sprintf("%s: image %s has an explicit tag", name, s.Image),
				fmt.Sprintf("%s: pulled image %q needs an explicit version tag (not latest)", name, s.Image))
		}
		if s.Build == nil {
			continue
		}
		for _, arg := range sortedKeys(s.Build.Args) {
			want, pinned := versions[arg]
			if !pinned {
				continue
			}
			got := ""
			if v := s.Build.Args[arg]; v != nil {
				got = *v
			}
			r.check(got == want,
				fmt.Sprintf("%s: build arg %s=%s matches versions.env", name, arg, got),
				fmt.Sprintf("%s: build arg %s=%q but versions.env pins %s=%s", name, arg, got, arg, want))
		}
		dockerfile := s.Build.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		if !filepath.IsAbs(dockerfile) {
			dockerfile = filepath.Join(s.Build.Context, dockerfile)
		}
		if !dockerfiles[dockerfile] {
			dockerfiles[dockerfile] = true
			checkDockerfile(r, dockerfile, project.WorkingDir, versions)
		}
	}
}

var connectorCoordinate = regexp.MustCompile(`org\.apache\.spark:spark-sql-kafka-0-10_[0-9.]+:[^\s"',]+`)

// checkConnectorCoordinates: any literal connector coordinate equals SPARK_KAFKA_CONNECTOR.
func checkConnectorCoordinates(r *report, rel, text string, versions map[string]string) {
	for _, c := range connectorCoordinate.FindAllString(text, -1) {
		want := versions["SPARK_KAFKA_CONNECTOR"]
		r.check(c == want,
			fmt.Sprintf("%s: connector %s matches SPARK_KAFKA_CONNECTOR", rel, c),
			fmt.Sprintf("%s: connector %s but versions.env pins SPARK_KAFKA_CONNECTOR=%s", rel, c, want))
	}
}

// checkConnectorPin: versions.env is consistent with itself.
func checkConnectorPin(r *report, versions map[string]string) {
	want := fmt.Sprintf("org.apache.spark:spark-sql-kafka-0-10_%s:%s", versions["SCALA_BINARY_VERSION"], versions["SPARK_VERSION"])
	r.check(versions["SPARK_KAFKA_CONNECTOR"] == want,
		fmt.Sprintf("versions.env: SPARK_KAFKA_CONNECTOR is %s", want),
		fmt.Sprintf("versions.env: SPARK_KAFKA_CONNECTOR=%s but SPARK_VERSION and SCALA_BINARY_VERSION make %s", versions["SPARK_KAFKA_CONNECTOR"], want))
}

func checkDependencies(r *report, project *types.Project) {
	for _, name := range sortedKeys(project.Services) {
		s := project.Services[name]
		for _, dep := range sortedKeys(s.DependsOn) {
			d := s.DependsOn[dep]
			target, exists := project.Services[dep]
			if !exists {
				r.fail("%s: depends on %s, which is not a service", name, dep)
				continue
			}
			if d.Condition == types.ServiceConditionHealthy {
				r.check(target.HealthCheck != nil && !target.HealthCheck.Disable && len(target.HealthCheck.Test) > 0,
					fmt.Sprintf("%s: waits for %s (%s), which has a healthcheck", name, dep, d.Condition),
					fmt.Sprintf("%s: waits for %s to be healthy, but %s has no healthcheck", name, dep, dep))
			} else {
				r.ok("%s: waits for %s (%s)", name, dep, d.Condition)
			}
		}
	}
}

func checkScalable(r *report, project *types.Project, name string) {
	s, exists := project.Services[name]
	if !exists {
		r.fail("%s: must be scalable, but there is no such service", name)
		return
	}
	problems := []string{}
	if s.ContainerName != "" {
		problems = append(problems, "container_name "+s.ContainerName)
	}
	for _, p := range s.Ports {
		if p.Published != "" && !strings.Contains(p.Published, "-") {
			problems = append(problems, fmt.Sprintf("fixed host port %s", p.Published))
		}
	}
	r.check(len(problems) == 0,
		fmt.Sprintf("%s: works with --scale (no container_name, no fixed host port)", name),
		fmt.Sprintf("%s: cannot be scaled: %s", name, strings.Join(problems, ", ")))
}

// splitImage splits "repo[:tag][@digest]" into the repository (without docker.io/ or
// library/) and the tag.
func splitImage(image string) (string, string) {
	image, _, _ = strings.Cut(image, "@")
	repo, tag := image, ""
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		repo, tag = image[:i], image[i+1:]
	}
	repo = strings.TrimPrefix(repo, "docker.io/")
	repo = strings.TrimPrefix(repo, "library/")
	return repo, tag
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
