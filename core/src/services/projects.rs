//! Projects: tenants whose data never mixes.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};

use lux_entity::project;

use crate::domain::{MAX_LABEL_BYTES, ProjectId, identifier, required_text};
use crate::error::{Error, Result};
use crate::store::Lux;

pub const DEFAULT_PROJECT_SLUG: &str = "default";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub slug: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn project_from_row(row: project::Model) -> Project {
    Project {
        id: ProjectId(row.id),
        slug: row.slug,
        name: row.name,
        created_at: row.created_at,
    }
}

impl Lux {
    pub async fn create_project(&self, slug: &str, name: &str) -> Result<Project> {
        let slug = identifier("slug", slug)?;
        let name = required_text("name", name, MAX_LABEL_BYTES)?;
        if self.project_by_slug(&slug).await?.is_some() {
            return Err(Error::conflict(format!("project {slug:?} already exists")));
        }
        let row = project::ActiveModel {
            id: Set(self.new_id()),
            slug: Set(slug),
            name: Set(name),
            created_at: Set(self.now()),
        };
        let inserted = project::Entity::insert(row)
            .exec_with_returning(self.db())
            .await?;
        Ok(project_from_row(inserted))
    }

    pub async fn project_by_slug(&self, slug: &str) -> Result<Option<Project>> {
        if !crate::domain::could_be_stored(slug) {
            return Ok(None);
        }
        let row = project::Entity::find()
            .filter(project::Column::Slug.eq(slug))
            .one(self.db())
            .await?;
        Ok(row.map(project_from_row))
    }

    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        let rows = project::Entity::find()
            .order_by_asc(project::Column::CreatedAt)
            .all(self.db())
            .await?;
        Ok(rows.into_iter().map(project_from_row).collect())
    }

    /// Several processes may open one database at once, so creation tolerates losing the race.
    pub(crate) async fn ensure_default_project(&self) -> Result<ProjectId> {
        if let Some(project) = self.project_by_slug(DEFAULT_PROJECT_SLUG).await? {
            return Ok(project.id);
        }
        match self
            .create_project(DEFAULT_PROJECT_SLUG, "Default project")
            .await
        {
            Ok(project) => Ok(project.id),
            Err(error) => match self.project_by_slug(DEFAULT_PROJECT_SLUG).await? {
                Some(project) => Ok(project.id),
                None => Err(error),
            },
        }
    }
}
