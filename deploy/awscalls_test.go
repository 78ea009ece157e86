package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The AWS operations canaryd calls, found in its source: every call of a
// function or method that takes an SDK operation's input
// (*lambda.UpdateAliasInput -> lambda:UpdateAlias) — a client method, an
// interface canaryd declares over one, a paginator or a waiter — plus the
// credential providers that call STS. Each package is type-checked from
// source against the export data `go list -export` produced, so a call is
// found however it is spelled.

const sdkServicePrefix = "github.com/aws/aws-sdk-go-v2/service/"

// credentialProviders call STS operations themselves.
var credentialProviders = map[string]string{
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds.NewAssumeRoleProvider":      "sts:AssumeRole",
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds.NewWebIdentityRoleProvider": "sts:AssumeRoleWithWebIdentity",
}

// simulatorOnly are the packages that talk to awssim alone, never to AWS.
var simulatorOnly = map[string]bool{
	"github.com/canaryd/canaryd/awssim": true, // the simulator itself
}

type goPackage struct {
	ImportPath string
	Dir        string
	Export     string
	GoFiles    []string
	Module     *struct{ Path string }
}

// listPackages runs go list -deps -export on patterns from the module root.
func listPackages(t *testing.T, patterns ...string) []goPackage {
	t.Helper()
	args := append([]string{"list", "-deps", "-export", "-json=ImportPath,Dir,Export,GoFiles,Module"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// awsActions returns the IAM actions the module's own packages (those
// matching patterns) call, each with one place that calls it.
func awsActions(t *testing.T, patterns ...string) map[string]string {
	t.Helper()
	pkgs := listPackages(t, patterns...)
	exports := map[string]string{}
	for _, p := range pkgs {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	found := map[string]string{}
	for _, p := range pkgs {
		if p.Module == nil || p.Module.Path != "github.com/canaryd/canaryd" || simulatorOnly[p.ImportPath] {
			continue
		}
		for action, where := range scanPackage(t, fset, imp, p) {
			if _, seen := found[action]; !seen {
				found[action] = where
			}
		}
	}
	return found
}

func scanPackage(t *testing.T, fset *token.FileSet, imp types.Importer, p goPackage) map[string]string {
	t.Helper()
	var files []*ast.File
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: imp}
	if _, err := conf.Check(p.ImportPath, fset, files, info); err != nil {
		t.Fatalf("type-check %s: %v", p.ImportPath, err)
	}
	found := map[string]string{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			for _, action := range callActions(info, call) {
				if _, seen := found[action]; !seen {
					pos := fset.Position(call.Pos())
					rel := strings.TrimPrefix(p.ImportPath, "github.com/canaryd/canaryd/")
					found[action] = fmt.Sprintf("%s/%s:%d", rel, filepath.Base(pos.Filename), pos.Line)
				}
			}
			return true
		})
	}
	return found
}

// callActions is the IAM actions one call performs.
func callActions(info *types.Info, call *ast.CallExpr) []string {
	if fn := callee(info, call.Fun); fn != nil && fn.Pkg() != nil {
		if a, ok := credentialProviders[fn.Pkg().Path()+"."+fn.Name()]; ok {
			if a == "" {
				return nil
			}
			return []string{a}
		}
	}
	sig, ok := info.Types[call.Fun].Type.(*types.Signature)
	if !ok {
		return nil
	}
	var out []string
	for i := range sig.Params().Len() {
		if a := inputAction(sig.Params().At(i).Type()); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func callee(info *types.Info, fun ast.Expr) *types.Func {
	var id *ast.Ident
	switch f := fun.(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	default:
		return nil
	}
	fn, _ := info.Uses[id].(*types.Func)
	return fn
}

// inputAction maps *lambda.UpdateAliasInput to "lambda:UpdateAlias".
func inputAction(t types.Type) string {
	ptr, ok := t.(*types.Pointer)
	if !ok {
		return ""
	}
	named, ok := ptr.Elem().(*types.Named)
	if !ok || named.Obj().Pkg() == nil {
		return ""
	}
	path, name := named.Obj().Pkg().Path(), named.Obj().Name()
	svc, ok := strings.CutPrefix(path, sdkServicePrefix)
	if !ok || strings.Contains(svc, "/") || !strings.HasSuffix(name, "Input") {
		return ""
	}
	a := svc + ":" + strings.TrimSuffix(name, "Input")
	if iam, ok := iamActionNames[a]; ok {
		return iam
	}
	return a
}

// iamActionNames are the operations IAM authorises under another name
// (SQS's batch calls need the single call's permission).
var iamActionNames = map[string]string{
	"lambda:Invoke":                    "lambda:InvokeFunction",
	"sqs:DeleteMessageBatch":           "sqs:DeleteMessage",
	"sqs:SendMessageBatch":             "sqs:SendMessage",
	"sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
