/**
 * The Drizzle schema of `drizzle_test.ts`: users and their posts, in a
 * PostgreSQL schema of each suite's own so the suites never share rows.
 *
 * @module
 */

import { relations } from "drizzle-orm";
import { integer, jsonb, pgSchema, serial, text, timestamp } from "drizzle-orm/pg-core";

/** The tables and relations in the PostgreSQL schema `name`. */
export function blogSchema(name: string) {
  const schema = pgSchema(name);
  const users = schema.table("users", {
    id: serial("id").primaryKey(),
    name: text("name").notNull().unique(),
    profile: jsonb("profile").$type<Record<string, unknown> | unknown[] | string | number>(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  });
  const posts = schema.table("posts", {
    id: serial("id").primaryKey(),
    authorId: integer("author_id").notNull().references(() => users.id),
    title: text("title").notNull(),
  });
  const usersRelations = relations(users, ({ many }) => ({ posts: many(posts) }));
  const postsRelations = relations(posts, ({ one }) => ({
    author: one(users, { fields: [posts.authorId], references: [users.id] }),
  }));
  return { users, posts, usersRelations, postsRelations };
}

/** The statements that create the tables of {@linkcode blogSchema}. */
export function blogDdl(name: string): string[] {
  return [
    `create schema "${name}"`,
    `create table "${name}".users (
      id serial primary key,
      name text not null unique,
      profile jsonb,
      created_at timestamptz not null default now()
    )`,
    `create table "${name}".posts (
      id serial primary key,
      author_id integer not null references "${name}".users (id),
      title text not null
    )`,
  ];
}
