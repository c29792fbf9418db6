package api

import (
	"fmt"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/pkg/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/lifecycle"
	"github.com/pkgserver/pkgserver/internal/render"
)

// renderStatus is how a write's package rendered, as Porch reports it in
// PackageRevisionResources' status.renderStatus; nil when nothing
// rendered (the package has no pipeline).
func renderStatus(rd *lifecycle.Rendering) *pkgv1alpha1.RenderStatus {
	if rd == nil {
		return nil
	}
	st := &pkgv1alpha1.RenderStatus{}
	if rd.Err != nil {
		st.Err = rd.Err.Error()
	}
	list := rd.Results
	if list == nil {
		list = render.NewResultList()
	}
	st.Result = pkgv1alpha1.FunctionResultList{
		TypeMeta:   metav1.TypeMeta{APIVersion: list.APIVersion, Kind: list.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: list.Metadata.Name},
		ExitCode:   list.ExitCode,
	}
	for _, fr := range list.Items {
		item := pkgv1alpha1.FunctionResult{Image: fr.Image, Stderr: fr.Stderr, ExitCode: fr.ExitCode}
		for _, r := range fr.Results {
			if r == nil {
				continue
			}
			ri := pkgv1alpha1.FunctionResultItem{Message: r.Message, Severity: string(r.Severity), Tags: r.Tags}
			if r.ResourceRef != nil {
				ri.ResourceRef = &pkgv1alpha1.ResultResourceRef{APIVersion: r.ResourceRef.APIVersion, Kind: r.ResourceRef.Kind,
					Name: r.ResourceRef.Name, Namespace: r.ResourceRef.Namespace}
			}
			if r.Field != nil {
				ri.Field = &pkgv1alpha1.ResultField{Path: r.Field.Path, CurrentValue: valueText(r.Field.CurrentValue),
					ProposedValue: valueText(r.Field.ProposedValue)}
			}
			if r.File != nil {
				ri.File = &pkgv1alpha1.ResultFile{Path: r.File.Path, Index: r.File.Index}
			}
			item.Results = append(item.Results, ri)
		}
		st.Result.Items = append(st.Result.Items, item)
	}
	return st
}

// valueText is a field value of a function's result as text.
func valueText(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// warnRenderFailure tells, in a Warning header (which kubectl prints), of
// a package committed though its render failed, as its Kptfile asks.
func warnRenderFailure(c echo.Context, rd *lifecycle.Rendering) {
	if rd != nil && rd.Err != nil {
		c.Response().Header().Add("Warning", warningHeader(fmt.Sprintf("the package does not render (%v); committed as given, as its Kptfile's %s asks",
			rd.Err, lifecycle.PushOnRenderFailureAnnotation)))
	}
}
