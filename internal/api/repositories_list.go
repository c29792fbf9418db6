package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha1 "github.com/pkgserver/pkgserver/internal/apis/config/v1alpha1"
	"github.com/pkgserver/pkgserver/internal/store"
)

func (s *Server) listRepositories(c echo.Context) error {
	ns := c.Param("ns")
	if ns != "" {
		if err := checkNamespace(ns); err != nil {
			return err
		}
	}
	if err := authorize(c, ns, store.RoleRead); err != nil {
		return err
	}
	repos, err := s.store.ListRepositories(c.Request().Context(), ns)
	if err != nil {
		return err
	}
	rv, err := s.store.ResourceVersion(c.Request().Context())
	if err != nil {
		return err
	}
	list := configv1alpha1.RepositoryList{
		TypeMeta: metav1.TypeMeta{APIVersion: configv1alpha1.APIVersion, Kind: "RepositoryList"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(rv, 10)},
		Items:    make([]configv1alpha1.Repository, 0, len(repos)),
	}
	for _, r := range repos {
		list.Items = append(list.Items, s.repositoryObject(r))
	}
	return writeJSON(c, http.StatusOK, list)
}
